"""Helpers for the pipeline tests: a tiny CIFAR-10 tarball and a local HTTP server.

The tarball has the layout and pickles of the official ``cifar-10-python.tar.gz``
(``cifar-10-batches-py/`` with ``batches.meta``, ``data_batch_1..5``, ``test_batch``;
``data`` uint8 N x 3072, rows of 1024 red, 1024 green, 1024 blue values) but only a
few hundred images, each a flat colour per class plus noise, so a net learns something
in one epoch. The server serves bytes from memory on 127.0.0.1, honours ``Range``
(or ignores it, or cuts a transfer short, when told to) and counts requests.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]


def _batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    colours = np.random.default_rng(7).integers(30, 225, (10, 3))
    img = np.repeat(colours[labels][:, :, None], 1024, axis=2).astype(np.float64)
    img += rng.normal(0, 6, img.shape)
    data = np.clip(img, 0, 255).astype(np.uint8).reshape(n, 3072)
    return {"batch_label": f"fixture batch {seed}", "labels": [int(v) for v in labels],
            "data": data, "filenames": [f"img_{seed}_{i}.png" for i in range(n)]}


def cifar_python_tarball(per_batch: int = 40, test: int = 60) -> bytes:
    """A tiny tarball in the official CIFAR-10 python layout (deterministic bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.USTAR_FORMAT) as tf:
        def add(name: str, obj: dict) -> None:
            raw = pickle.dumps(obj, protocol=2)
            ti = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            ti.size, ti.mtime, ti.mode = len(raw), 0, 0o644
            tf.addfile(ti, io.BytesIO(raw))

        add("batches.meta", {"label_names": CLASSES, "num_cases_per_batch": per_batch,
                             "num_vis": 3072})
        for k in range(1, 6):
            add(f"data_batch_{k}", _batch(per_batch, k))
        add("test_batch", _batch(test, 99))
    # gzip writes a timestamp into its header: zero it so the bytes never change
    data = bytearray(buf.getvalue())
    data[4:8] = b"\0\0\0\0"
    return bytes(data)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@dataclass
class Served:
    """What the server hands out, and how it misbehaves."""

    files: dict[str, bytes] = field(default_factory=dict)
    ignore_range: bool = False
    cut_after: int | None = None  # close the first transfer after this many bytes
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    served: Served

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        s = self.served
        rng = self.headers.get("Range")
        s.requests.append((self.path, rng))
        name = self.path.lstrip("/")
        if name not in s.files:
            self.send_error(404)
            return
        data = s.files[name]
        start = 0
        if rng and not s.ignore_range and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if s.cut_after is not None:
            self.wfile.write(body[:s.cut_after])
            s.cut_after = None
            self.close_connection = True
            return
        self.wfile.write(body)


@contextmanager
def http_server(served: Served) -> Iterator[str]:
    """Serve ``served`` on 127.0.0.1; yields the base URL."""
    handler = type("Handler", (_Handler,), {"served": served})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
