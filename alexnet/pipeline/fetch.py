"""The ``fetch`` stage: the profile's data set and weights, verified, in one folder.

Output (``runs/pipeline/fetch`` in dvc.yaml): the verified files themselves (a hard link
to, or a copy of, the download cache entry) and ``sources.json``, which the later stages
read to find them. Files the user supplies in ``data/`` (the ILSVRC-2012 archives, 150 GB)
are verified where they are and referenced, not copied: data.dvc already pins them.

``sources.json`` records only what the content determines (names, checksums, sizes,
relative paths), never where a file came from (URL, mirror or cache: that is printed),
so fetching the same bytes another way leaves every downstream stage up to date.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from alexnet.download import Obtained, Pin, link_or_copy, mirrors_from, obtain
from alexnet.errors import DataError
from alexnet.io import staging_dir
from alexnet.pipeline.params import DataSpec, Profile

MANIFEST = "sources.json"
FORMAT = 1
#: ILSVRC-2012: the folder (beside the archives) holding the unpacked train/ and val/ trees
IMAGES_DIR = "images"


@dataclass(frozen=True)
class FetchedData:
    """What the later stages need to open the fetched data set."""

    name: str
    kind: str
    path: Path  # the main file (first pin)
    files: dict[str, Path]
    md5: str | None  # pinned md5 of the main file (the CIFAR reader checks it again)
    manifest: dict[str, Any]
    images: Path | None = None  # ILSVRC-2012: the image-folder tree arranged from the archives

    prepared: Path | None = None  # ILSVRC-2012: where the prepare stage writes the tree

    @property
    def data(self) -> Path:
        """What the port's data loader reads (a file, or the ILSVRC-2012 image tree)."""
        if self.kind != "ilsvrc2012":
            return self.path
        if self.images is not None:
            return self.images
        if self.prepared is None or not (self.prepared / "val").is_dir():
            raise DataError(f"{self.prepared}: missing; the prepare stage makes it from the "
                            "ILSVRC-2012 archives (dvc repro prepare)")
        return self.prepared


def _archives(spec: DataSpec, data_dir: Path, mirrors: list[str], *,
              cache_dir: str | Path | None, progress: bool, retries: int,
              timeout: float) -> list[Obtained]:
    """Files with no public URL (the ILSVRC-2012 archives): the same lookup as the data
    sets (data/<folder>/, the download cache, the mirror), and one clear line naming
    where to put them when none has them."""
    folder = data_dir / spec.folder if spec.folder else data_dir
    found = []
    for pin in spec.pins:
        try:
            found.append(obtain(pin, local_dirs=[folder], mirrors=mirrors,
                                cache_dir=cache_dir, progress=progress, retries=retries,
                                timeout=timeout))
        except DataError as exc:
            if type(exc) is not DataError:
                raise
            raise DataError(
                f"{pin.name}: not in {folder}/, the download cache or a mirror; {spec.name} "
                "has no public URL (the files need an ImageNet account): put "
                f"{', '.join(p.name for p in spec.pins)} into {folder}/ (or a mirror folder: "
                "ALEXNET_MIRROR / params.yaml mirror)") from None
    return found


def fetch(profile: Profile, out: str | Path, *, data_dir: str | Path = "data",
          mirror: str | None = None, source: str | None = None,
          cache_dir: str | Path | None = None, progress: bool = True,
          retries: int = 3, timeout: float = 60.0, echo=click.echo) -> dict[str, Any]:
    """Fetch and verify the profile's files into ``out``; return the manifest written.

    ``mirror`` (else $ALEXNET_MIRROR, else params' ``mirror``) and ``source`` (a file,
    folder or URL for the data set's main file) add places to look; neither can change
    what is accepted, which only the pins decide.
    """
    out = Path(out)
    data_dir = Path(data_dir)
    spec = profile.dataset
    mirrors = mirrors_from(mirror if mirror else profile.mirror)
    with staging_dir(out) as staging:
        images = None
        if spec.user_supplied and spec.kind == "ilsvrc2012":
            got = _archives(spec, data_dir, mirrors, cache_dir=cache_dir, progress=progress,
                            retries=retries, timeout=timeout)
            # the user's copies in data/ (150 GB, pinned by data.dvc) are referenced where
            # they are; copies from the cache or a mirror are linked in like a data set's
            user = (data_dir / spec.folder).resolve()
            in_place = {o.pin.name for o in got if o.path.resolve().is_relative_to(user)}
            # an image tree unpacked by hand beside the archives is still honoured
            images = _image_tree(user / IMAGES_DIR, out) if in_place else None
        else:
            local = [data_dir / spec.folder if spec.folder else data_dir]
            got = []
            for i, pin in enumerate(spec.pins):
                try:
                    got.append(obtain(pin, local_dirs=local, source=source if i == 0 else None,
                                      mirrors=mirrors, cache_dir=cache_dir, progress=progress,
                                      retries=retries, timeout=timeout))
                except DataError as exc:
                    if type(exc) is not DataError or not spec.alternatives:
                        raise
                    alt = spec.alternatives[0]
                    raise DataError(f"{exc}; or read the {alt} copy instead: dvc exp run -S "
                                    f"datasets.{spec.name}.source={alt}") from None
            in_place = set()
        for o in got:
            echo(f"{o.pin.name}: verified ({o.pin.describe()}), from {o.origin}")
        weights = []
        for wname, pin in profile.weights:
            o = obtain(pin, local_dirs=[data_dir / "weights", data_dir], mirrors=mirrors,
                       cache_dir=cache_dir, progress=progress, retries=retries, timeout=timeout)
            echo(f"{pin.name}: verified ({pin.describe()}), from {o.origin}")
            weights.append((wname, o))

        files = []
        for o in got:
            if o.pin.name in in_place:
                rel = os.path.relpath(o.path.resolve(), out.resolve())
            else:
                link_or_copy(o.path, staging / o.pin.name)
                rel = o.pin.name
            files.append({"file": o.pin.name, "path": rel, "size": o.size, **o.digests})
        wlist = []
        for wname, o in weights:
            (staging / "weights").mkdir(exist_ok=True)
            link_or_copy(o.path, staging / "weights" / o.pin.name)
            wlist.append({"name": wname, "file": o.pin.name, "path": f"weights/{o.pin.name}",
                          "size": o.size, **o.digests})
        manifest = {
            "format": FORMAT,
            "dataset": spec.name,
            "source": spec.source,
            "kind": spec.kind,
            "files": files,
            "weights": wlist,
        }
        if images is not None:
            manifest["images"] = images
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _image_tree(folder: Path, out: Path) -> dict[str, Any] | None:
    """A fingerprint of an unpacked image tree (names and sizes), so that changing it
    re-runs the stages after fetch even though the archives stayed the same."""
    if not (folder / "train").is_dir():
        return None
    h = hashlib.sha256()
    count = 0
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(folder).as_posix()}\0{p.stat().st_size}\n".encode())
            count += 1
    return {"path": os.path.relpath(folder.resolve(), out.resolve()), "files": count,
            "fingerprint": "names-sizes-sha256:" + h.hexdigest()}


def read_fetched(fetched: str | Path) -> FetchedData:
    """The data set a ``fetch`` output folder holds (for the stages after it)."""
    fetched = Path(fetched)
    mpath = fetched / MANIFEST
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{mpath}: missing; run the fetch stage first (dvc repro fetch)"
                        ) from None
    except ValueError as exc:
        raise DataError(f"{mpath}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not manifest.get(
            "files"):
        raise DataError(f"{mpath}: not a fetch manifest of format {FORMAT}; run fetch again")
    # relative to the working folder (the repository root under DVC), so that nothing
    # downstream records where this clone happens to live
    files = {f["file"]: Path(os.path.normpath(fetched / f["path"])) for f in manifest["files"]}
    first = manifest["files"][0]
    for p in files.values():
        if not p.is_file():
            raise DataError(f"{p}: listed in {mpath} but missing; run the fetch stage again")
    images = manifest.get("images")
    return FetchedData(name=manifest["dataset"], kind=manifest["kind"],
                       path=files[first["file"]], files=files,
                       md5=first.get("md5") if manifest["kind"] != "ilsvrc2012" else None,
                       manifest=manifest,
                       images=Path(os.path.normpath(fetched / images["path"])) if images
                       else None,
                       prepared=Path(os.path.normpath(fetched.parent / "prepare" / IMAGES_DIR))
                       if manifest["kind"] == "ilsvrc2012" else None)


def pin_of(entry: dict[str, Any]) -> Pin:
    """A manifest entry as a Pin (to re-check a file later)."""
    return Pin(entry["file"], {a: entry[a] for a in ("sha256", "sha1", "md5") if a in entry},
               size=entry.get("size"))
