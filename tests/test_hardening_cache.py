"""The decoded-image cache under interruption and contention (modern/data.py, alexnet/io.py).

An interrupted decode leaves a full-size ``<entry>.tmp-*`` staging copy; a later build of
any entry sweeps the copies no live builder owns. Two processes that want one entry never
build it together: the second waits for the first (one line on stderr), then reads the
finished entry.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np

from alexnet.io import entry_lock_path, lock_file, sweep_unlocked_staging
from alexnet.modern import data as D

#: How long a child process may take to load a tiny image folder on a loaded CI machine.
CHILD_TIMEOUT_S = 120

LOAD = textwrap.dedent("""
    import sys
    from alexnet.modern.data import load_dataset
    ds = load_dataset(sys.argv[1], cache_dir=sys.argv[2], progress=False, workers=1)
    print(len(ds.train), len(ds.test), int(ds.train.images.sum()), flush=True)
""")


def _load(root, cache):
    return D.load_dataset(root, cache_dir=cache, progress=False, workers=1)


def _entry(cache):
    entries = [p for p in cache.iterdir() if p.is_dir()]
    assert len(entries) == 1, entries
    return entries[0]


def _child(root, cache, **kw):
    return subprocess.Popen([sys.executable, "-c", LOAD, str(root), str(cache)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_stale_staging_copy_is_swept_but_a_live_builders_is_kept(tmp_path, make_image_folder):
    root = make_image_folder(tmp_path / "imgs", n_train=2, n_test=1)
    cache = tmp_path / "cache"
    first = _load(root, cache)
    entry = _entry(cache)
    expected = np.array(first.train.images)
    del first
    # an interrupted build of this entry (no lock held: its process died) ...
    os.rename(entry, cache / f"{entry.name}.tmp-dead1")
    # ... and one of another entry whose builder is alive (it holds that entry's lock)
    live = cache / "other-entry.tmp-live1"
    live.mkdir()
    (live / "train_images.npy").write_bytes(b"\0" * 1024)
    with lock_file(entry_lock_path(cache / "other-entry"), owner=cache / "other-entry"):
        again = _load(root, cache)
        assert not (cache / f"{entry.name}.tmp-dead1").exists()
        assert live.is_dir(), "a live builder's staging copy was deleted"
    np.testing.assert_array_equal(again.train.images, expected)  # exact: same decode
    # once its builder is gone, the other copy is stale too
    assert sweep_unlocked_staging(cache) == [live] and not live.exists()
    assert not list(cache.glob("*.tmp-*"))


def test_second_process_waits_for_the_builder_then_reads_its_entry(tmp_path,
                                                                   make_image_folder):
    """Waiting, not failing: what the second process waits for is the entry it needs."""
    root = make_image_folder(tmp_path / "imgs", n_train=2, n_test=1)
    cache = tmp_path / "cache"
    want = _load(root, cache)
    want_line = f"{len(want.train)} {len(want.test)} {int(want.train.images.sum())}"
    entry = _entry(cache)
    del want
    for p in entry.iterdir():
        p.unlink()
    entry.rmdir()
    with lock_file(entry_lock_path(entry), owner=entry, what="cache entry"):
        child = _child(root, cache)
        line = child.stderr.readline()  # blocks until the child reports that it waits
        assert f"{entry}: waiting for process {os.getpid()}" in line
        assert "error" not in line.lower()
        time.sleep(0.2)
        assert child.poll() is None, "the child did not wait for the lock"
    out, err = child.communicate(timeout=CHILD_TIMEOUT_S)
    assert child.returncode == 0, err
    assert out.strip() == want_line


def test_concurrent_builders_end_with_one_correct_entry(tmp_path, make_image_folder):
    n_proc = 3
    root = make_image_folder(tmp_path / "imgs", n_train=6, n_test=2)
    cache = tmp_path / "cache"
    procs = [_child(root, cache) for _ in range(n_proc)]
    results = [p.communicate(timeout=CHILD_TIMEOUT_S) for p in procs]
    assert [p.returncode for p in procs] == [0] * n_proc, [e for _, e in results]
    lines = {out.strip() for out, _ in results}
    ref = D.load_dataset(root, cache_dir=tmp_path / "ref", progress=False, use_cache=False)
    assert lines == {f"{len(ref.train)} {len(ref.test)} {int(ref.train.images.sum())}"}
    entry = _entry(cache)
    assert not list(cache.glob("*.tmp-*"))
    np.testing.assert_array_equal(_load(root, cache).train.images, ref.train.images)
    assert (entry / "meta.json").is_file()
