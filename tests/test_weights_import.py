"""Importing published weights: Caffe's wire format and torchvision's state dict.

The files are written here in the real formats: the protobuf encoder of
``tests/fixtures/caffemodel.py`` writes ``.caffemodel`` files in both of Caffe's net
formats (current ``layer`` and legacy V1 ``layers``), with both blob shape encodings
and float values packed, unpacked and as doubles; ``torch.save`` writes
torchvision-layout state dicts. Each imported network's outputs are checked against an
independent forward written here with plain ``torch.nn.functional`` calls.

Size. The convolutions of AlexNet are fixed (2.3 M values, 9 MB in a file) but the fully
connected layers are 94% of its 61 M parameters, so most files here use the
architectures' ``hidden`` and ``num_classes`` options (fc6/fc7 16 wide, 10 classes),
which the importers' Python API accepts for fine-tuned nets and the command line never
passes. The published shapes are checked too: by the architectures' parameter counts, by
refusing a file whose fc6 has the wrong width, and by importing a torchvision file of the
real shapes whose tensors are stride-0 views of a few numbers (``torch.save`` keeps a
view's small storage, so the file is tiny while every tensor has its full shape).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from fixtures.caffemodel import CONV, blob, caffe_net

from alexnet.cli import cli
from alexnet.errors import CheckpointError, ChecksumError, ConfigError
from alexnet.modern import build_model
from alexnet.modern import checkpoint as ck
from alexnet.modern.caffemodel import parse_blob, parse_net
from alexnet.modern.caffenets import CAFFE_MEAN_BGR, BVLCNet
from alexnet.modern.importers import import_caffe, import_torchvision
from alexnet.registry import WEIGHTS

SMALL = {"hidden": 16, "num_classes": 10}

# --------------------------------------------------------------------------------------
# Independent forwards


def caffe_forward(state: dict[str, torch.Tensor], x_bgr: torch.Tensor, order: str
                  ) -> torch.Tensor:
    """Caffe's arithmetic with plain functional calls: floor-rounded convolutions, ReLU,
    LRN (1 + 1e-4/5 * sum over 5 maps)^0.75 across all maps, ceil-rounded max pooling."""
    def conv(x, i):
        _, _, s, p, g = CONV[i]
        return F.relu(F.conv2d(x, state[f"conv{i}.weight"], state[f"conv{i}.bias"],
                               stride=s, padding=p, groups=g))

    def norm(x):
        return F.local_response_norm(x, 5, alpha=1e-4, beta=0.75, k=1.0)

    def pool(x):
        return F.max_pool2d(x, 3, 2, ceil_mode=True)

    x = x_bgr
    for i in (1, 2):
        x = conv(x, i)
        x = pool(norm(x)) if order == "norm-pool" else norm(pool(x))
    x = pool(conv(conv(conv(x, 3), 4), 5)).flatten(1)
    x = F.relu(F.linear(x, state["fc6.weight"], state["fc6.bias"]))
    x = F.relu(F.linear(x, state["fc7.weight"], state["fc7.bias"]))
    return F.linear(x, state["fc8.weight"], state["fc8.bias"])


def owt_forward(tv: dict[str, torch.Tensor], x01: torch.Tensor) -> torch.Tensor:
    """torchvision's AlexNet on [0, 1] RGB input, normalised as torchvision does."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (x01 - mean) / std

    def conv(x, i, **kw):
        return F.relu(F.conv2d(x, tv[f"features.{i}.weight"], tv[f"features.{i}.bias"], **kw))

    x = F.max_pool2d(conv(x, 0, stride=4, padding=2), 3, 2)
    x = F.max_pool2d(conv(x, 3, padding=2), 3, 2)
    x = conv(conv(conv(x, 6, padding=1), 8, padding=1), 10, padding=1)
    x = F.adaptive_avg_pool2d(F.max_pool2d(x, 3, 2), (6, 6)).flatten(1)
    x = F.relu(F.linear(x, tv["classifier.1.weight"], tv["classifier.1.bias"]))
    x = F.relu(F.linear(x, tv["classifier.4.weight"], tv["classifier.4.bias"]))
    return F.linear(x, tv["classifier.6.weight"], tv["classifier.6.bias"])


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = float(b.abs().max())
    return scale > 0 and float((a - b).abs().max()) <= 1e-4 * scale


@pytest.fixture(scope="module")
def caffe_state() -> dict[str, torch.Tensor]:
    """Random weights of the small BVLC shapes, with Caffe's fillers (non-zero biases)."""
    net = BVLCNet("bvlc-alexnet", seed=3, **SMALL)
    return {k: v.clone() for k, v in net.state_dict().items()}


def _pixels(n: int, side: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, side, side, generator=g) * 255.0


def _imported(ckpt_path):
    ckpt = ck.read_checkpoint(ckpt_path)
    model = ck.build_for(ckpt)
    return ckpt, model.eval()


# --------------------------------------------------------------------------------------
# Caffe


@pytest.mark.parametrize("v1,legacy,order", [
    (True, True, "norm-pool"),     # the model zoo's own files: V1 layers, 4-number shapes
    (False, False, "pool-norm"),   # today's format, BlobShape
    (False, True, "norm-pool"),
])
def test_caffe_import_matches_independent_forward(tmp_path, caffe_state, v1, legacy, order):
    path = tmp_path / "net.caffemodel"
    path.write_bytes(caffe_net(caffe_state, v1=v1, legacy=legacy, order=order))
    res = import_caffe(path, tmp_path / "out", options=SMALL)
    arch = "bvlc-alexnet" if order == "norm-pool" else "bvlc-caffenet"
    assert res.arch == arch and res.weight_set is None
    assert len(res.mapped) == 16
    ckpt, model = _imported(res.checkpoint)
    assert ckpt.arch == arch
    assert ckpt.config["imported"]["net_format"] == ("layers (V1)" if v1 else "layer")
    # the published weights are kept bit for bit
    for k, v in caffe_state.items():
        assert torch.equal(ckpt.group("model")[k], v)
    # the data path hands the net RGB minus the mean; Caffe saw BGR minus the BGR mean
    mean = ckpt.tensors["data/mean"]
    assert mean.shape == (256, 256, 3)
    assert torch.allclose(mean[0, 0], torch.tensor(CAFFE_MEAN_BGR[::-1]))
    rgb = _pixels(2, 227) - mean[:227, :227].permute(2, 0, 1)
    with torch.no_grad():
        ours = model(rgb)
        ref = caffe_forward(caffe_state, rgb.flip(1), order)
    assert close(ours, ref)


def test_caffe_unpacked_and_double_values(tmp_path, caffe_state):
    """Old writers emit one field per float; some blobs hold doubles; mixed in one file."""
    kinds = {"conv1": "unpacked", "conv3": "double", "fc8": "unpacked", "fc6": "double"}
    data = caffe_net(caffe_state, v1=False, values=lambda name, i: kinds.get(name, "packed"))
    net = parse_net(data, "mem")
    assert net.layer("conv1").blobs[0].data.shape == (96 * 3 * 11 * 11,)
    path = tmp_path / "mixed.caffemodel"
    path.write_bytes(data)
    res = import_caffe(path, tmp_path / "out", options=SMALL)
    ckpt, model = _imported(res.checkpoint)
    for k, v in caffe_state.items():
        assert torch.allclose(ckpt.group("model")[k], v)
    x = _pixels(1, 227, seed=1) - 120.0
    with torch.no_grad():
        assert close(model(x), caffe_forward(caffe_state, x.flip(1), "norm-pool"))


def test_caffe_mean_image_binaryproto(tmp_path, caffe_state):
    path = tmp_path / "net.caffemodel"
    path.write_bytes(caffe_net(caffe_state, v1=True, legacy=True))
    mean_bgr = np.random.default_rng(0).uniform(90, 130, (1, 3, 256, 256)).astype(np.float32)
    mean_file = tmp_path / "imagenet_mean.binaryproto"
    mean_file.write_bytes(blob(mean_bgr, legacy=True))
    assert parse_blob(mean_file.read_bytes()).shape == (1, 3, 256, 256)
    res = import_caffe(path, tmp_path / "out", mean=mean_file, options=SMALL)
    got = ck.read_checkpoint(res.checkpoint).tensors["data/mean"].numpy()
    assert np.array_equal(got, mean_bgr[0, ::-1].transpose(1, 2, 0))


def _refused(tmp_path, data: bytes, match: str, name="net.caffemodel", exc=CheckpointError,
             **kw):
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / "out"
    with pytest.raises(exc, match=match) as info:
        import_caffe(path, out, options=kw.pop("options", SMALL), **kw)
    assert "\n" not in str(info.value)
    assert not out.exists() or not any(out.iterdir())   # nothing half-written
    return str(info.value)


def test_caffe_another_network_names_the_blob(tmp_path, caffe_state):
    state = dict(caffe_state)
    state["conv2.weight"] = torch.zeros(256, 96, 5, 5)   # no groups: another net
    msg = _refused(tmp_path, caffe_net(state, v1=True, legacy=True, conv2_groups=1),
                   r"conv2.*group 1, bvlc-alexnet needs 2")
    assert "Convolution" in msg
    # same params, wrong blob: the blob is named with both shapes
    msg = _refused(tmp_path, caffe_net(state, v1=True, legacy=True),
                   r"layer 'conv2' blob 0 \(weights\): shape \(256, 96, 5, 5\), "
                   r"bvlc-alexnet needs \(256, 48, 5, 5\)")


def test_caffe_published_shapes_are_the_default(tmp_path, caffe_state):
    """Without options the importer expects 4096-wide fc layers and 1000 classes."""
    _refused(tmp_path, caffe_net(caffe_state, v1=True), r"fc6' blob 0 .*needs \(4096, 9216\)",
             options={})


def test_caffe_order_extra_layers_and_arch(tmp_path, caffe_state):
    caffenet = caffe_net(caffe_state, v1=False, order="pool-norm")
    _refused(tmp_path, caffenet, "pools before it normalises, which is bvlc-caffenet, "
             "not bvlc-alexnet", arch="bvlc-alexnet")
    _refused(tmp_path, caffe_net(caffe_state, v1=False, extra=True),
             "layer 'fc9' .*no place for")


def test_caffe_truncated_and_foreign_files(tmp_path, caffe_state):
    data = caffe_net(caffe_state, v1=True, legacy=True)
    msg = _refused(tmp_path, data[: len(data) // 2], r"corrupt or truncated at byte \d+")
    assert "remain" in msg
    _refused(tmp_path, b"\x08\x96\x01" + b"\xff" * 12, "varint")
    _refused(tmp_path, b"\x0a\x03abc", "no layers")


def test_caffe_pinned_name_needs_its_checksum(tmp_path, caffe_state):
    sha1 = "9116a64c0fbe4459d18f4bb6b56d647b63920377"
    msg = _refused(tmp_path, caffe_net(caffe_state, v1=True), sha1,
                   name="bvlc_alexnet.caffemodel", exc=ChecksumError)
    assert "bvlc-alexnet" in msg


def test_import_never_overwrites_a_checkpoint(tmp_path, caffe_state):
    path = tmp_path / "net.caffemodel"
    path.write_bytes(caffe_net(caffe_state, v1=True))
    first = import_caffe(path, tmp_path / "out", options=SMALL)
    before = first.checkpoint.read_bytes()
    with pytest.raises(ConfigError, match="already holds a checkpoint"):
        import_caffe(path, tmp_path / "out", options=SMALL)
    assert first.checkpoint.read_bytes() == before


# --------------------------------------------------------------------------------------
# torchvision


def _tv_state(hidden: int, classes: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5),
              "features.6": (384, 192, 3, 3), "features.8": (256, 384, 3, 3),
              "features.10": (256, 256, 3, 3), "classifier.1": (hidden, 9216),
              "classifier.4": (hidden, hidden), "classifier.6": (classes, hidden)}
    out = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:]))
        out[f"{name}.weight"] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        out[f"{name}.bias"] = torch.rand(shape[0], generator=g) * 0.1
    return out


def test_torchvision_import_matches_independent_forward(tmp_path):
    tv = _tv_state(16, 10)
    path = tmp_path / "alexnet-small.pth"
    torch.save(tv, path)
    res = import_torchvision(path, tmp_path / "out", options=SMALL)
    assert res.arch == "alexnet-owt" and len(res.mapped) == 16
    ckpt, model = _imported(res.checkpoint)
    mean = ckpt.tensors["data/mean"][:224, :224].permute(2, 0, 1)
    pixels = _pixels(2, 224, seed=2)
    with torch.no_grad():
        ours = model(pixels - mean)
        ref = owt_forward(tv, pixels / 255.0)
    assert close(ours, ref)


def test_torchvision_real_shapes(tmp_path):
    """torchvision's names and shapes in full (61,100,840 parameters), from a tiny file:
    every tensor is a stride-0 view of one distinct number."""
    full = _tv_state(4096, 1000)
    light = {k: torch.full((1,), float(i + 1)).expand(v.shape)
             for i, (k, v) in enumerate(full.items())}
    path = tmp_path / "alexnet-owt-real-shapes.pth"
    torch.save(light, path)
    assert path.stat().st_size < 100_000
    res = import_torchvision(path, tmp_path / "out")
    assert res.parameters == 61_100_840
    weights = ck.read_checkpoint(res.checkpoint).group("model")
    assert float(weights["conv1.weight"][5, 2, 1, 0]) == 1.0
    assert float(weights["fc6.weight"][4095, 9215]) == 11.0
    assert float(weights["fc8.bias"][999]) == 16.0


def test_torchvision_refuses_pickled_code(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused by weights-only loading"):
        import_torchvision(path, tmp_path / "out")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_torchvision_wrong_tensors_and_checksum_name(tmp_path):
    tv = _tv_state(16, 10)
    tv["features.1.weight"] = torch.zeros(3)
    path = tmp_path / "other.pth"
    torch.save(tv, path)
    with pytest.raises(CheckpointError, match="'features.1.weight' has no place"):
        import_torchvision(path, tmp_path / "out", options=SMALL)
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(_tv_state(16, 10), path)
    with pytest.raises(ChecksumError, match="7be5be79"):
        import_torchvision(path, tmp_path / "out", options=SMALL)


# --------------------------------------------------------------------------------------
# Registry entries and the command line


def test_weight_sets_pin_sources_and_licences():
    sets = WEIGHTS
    assert dict(sets["bvlc-alexnet"].source.digests)["sha1"] == \
        "9116a64c0fbe4459d18f4bb6b56d647b63920377"
    assert dict(sets["bvlc-caffenet"].source.digests)["sha1"] == \
        "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46"
    for name in ("bvlc-alexnet", "bvlc-caffenet", "torchvision-alexnet"):
        assert "not bundled" in sets[name].licence
        assert sets[name].reported and sets[name].differs_from_145
        model = build_model(sets[name].arch, init=False)
        assert sum(p.numel() for p in model.parameters()) == (
            61_100_840 if name == "torchvision-alexnet" else 60_965_224)


@pytest.fixture
def alexnet_cli():
    """The real ``alexnet`` command group."""
    return lambda *args: CliRunner().invoke(cli, list(args))


def test_cli_list_and_import(tmp_path, alexnet_cli, caffe_state):
    r = alexnet_cli("weights", "list", "--json")
    assert r.exit_code == 0, r.output
    names = [w["name"] for w in json.loads(r.output)]
    assert {"bvlc-alexnet", "bvlc-caffenet", "torchvision-alexnet"} <= set(names)
    r = alexnet_cli("weights", "list")
    assert "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46" in r.output
    path = tmp_path / "net.caffemodel"
    path.write_bytes(caffe_net(caffe_state, v1=True))
    # fc8 says how many classes and hidden units (a fine-tuned net); the rest is checked
    r = alexnet_cli("weights", "import", "caffe", str(path), "--out", str(tmp_path / "o"),
                    "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["arch"] == "bvlc-alexnet" and res["weight_set"] is None
    # an unpinned file needs --out; a second import into the same folder is refused
    r = alexnet_cli("weights", "import", "caffe", str(path))
    assert r.exit_code == 2 and "give --out" in r.output
    r = alexnet_cli("weights", "import", "caffe", str(path), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and "already holds a checkpoint" in r.output
    assert r.output.startswith("error: ") and r.output.count("\n") == 1


def test_cli_import_torchvision(tmp_path, alexnet_cli):
    path = tmp_path / "not-a-state-dict.pth"
    torch.save({"x": torch.zeros(1), "y": [1, 2]}, path)
    r = alexnet_cli("weights", "import", "torchvision", str(path), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and "not a state dict" in r.output


# --------------------------------------------------------------------------------------
# An imported checkpoint is an ordinary one: predict, evaluate, train --init-from


WNIDS = [f"n{1440764 + i:08d}" for i in range(10)]


@pytest.fixture
def imported_small(tmp_path, caffe_state, alexnet_cli):
    """A small BVLC AlexNet imported by the command line with a class file."""
    path = tmp_path / "net.caffemodel"
    path.write_bytes(caffe_net(caffe_state, v1=True))
    classes = tmp_path / "synset_words.txt"
    classes.write_text("".join(f"{w} thing number {i}, a test class\n"
                               for i, w in enumerate(WNIDS)), encoding="utf-8")
    out = tmp_path / "imported"
    r = alexnet_cli("weights", "import", "caffe", str(path), "--out", str(out),
                    "--classes", str(classes))
    assert r.exit_code == 0, r.output
    return out


def _photos(folder, n: int, seed: int = 0) -> list:
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        h, w = int(rng.integers(200, 320)), int(rng.integers(200, 320))
        p = folder / f"photo{i}.jpg"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def test_predict_on_imported_weights_shows_class_words(tmp_path, imported_small, alexnet_cli):
    photos = _photos(tmp_path / "photos", 2)
    r = alexnet_cli("predict", *map(str, photos), "--weights", str(imported_small), "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert [x["image"] for x in res] == [str(p) for p in photos]
    for x in res:
        top = x["top"]
        assert len(top) == 5 and {t["label"] for t in top} <= set(WNIDS)
        assert all(t["words"].startswith("thing number") for t in top)
        probs = [t["prob"] for t in top]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    # the probabilities are the imported network's softmax on the 227 centre crop
    ckpt, model = _imported(imported_small)
    from alexnet.modern.data import decode_image

    img = torch.from_numpy(decode_image(photos[0], 256, name="p").astype(np.float32))
    x = (img - ckpt.tensors["data/mean"])[14:241, 14:241].permute(2, 0, 1)[None]
    with torch.no_grad():
        want = torch.softmax(caffe_forward(dict(ckpt.group("model")), x.flip(1),
                                           "norm-pool"), 1)[0]
    got = {t["index"]: t["prob"] for t in res[0]["top"]}
    for i, p in got.items():   # float32 forward of two implementations: 1e-4 absolute
        assert p == pytest.approx(float(want[i]), abs=1e-4)
    r = alexnet_cli("predict", str(photos[0]), "--weights", str(imported_small))
    assert r.exit_code == 0 and "thing number" in r.output and "(n0144" in r.output


def test_predict_names_the_import_command_for_a_known_set(tmp_path, alexnet_cli,
                                                          monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    r = alexnet_cli("predict", "x.jpg", "--weights", "bvlc-alexnet")
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "alexnet weights import caffe bvlc_alexnet.caffemodel" in r.output
    r = alexnet_cli("predict", "x.jpg", "--weights", "no-such-set")
    assert r.exit_code == 2 and "known:" in r.output


def test_predict_on_sample_photos(shared_datasets, imported_small, alexnet_cli):
    photos = sorted((shared_datasets / "imagenet-samples").glob("*.JPEG"))[:6]
    if not photos:
        pytest.skip("no imagenet-samples photos")
    r = alexnet_cli("predict", *map(str, photos), "--weights", str(imported_small), "--json")
    assert r.exit_code == 0, r.output   # grayscale and odd sizes included
    assert len(json.loads(r.output)) == len(photos)


def _image_folder(root, per_class: int = 1) -> None:
    for split in ("train", "test"):
        for i, w in enumerate(WNIDS):
            _photos(root / split / w, per_class, seed=100 * i + (split == "test"))


def test_evaluate_and_init_from_an_imported_checkpoint(tmp_path, imported_small):
    from alexnet.modern.evaluate import evaluate_checkpoint
    from alexnet.modern.train import TrainConfig, train

    data = tmp_path / "folder"
    _image_folder(data)
    for views in (1, 10):
        res = evaluate_checkpoint(imported_small, data, views=views, batch_size=8,
                                  cache_dir=str(tmp_path / "cache"), progress=False)
        assert res["n"] == 10 and res["arch"] == "bvlc-alexnet"
        assert 0.0 <= res["top1_err"] <= 1.0 and np.isfinite(res["loss"])
    start = ck.read_checkpoint(imported_small).group("model")
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=1, batch=5,
                      cache_dir=str(tmp_path / "cache"), init_from=str(imported_small),
                      progress=False)
    res = train(cfg, max_steps=1)
    tuned = ck.read_checkpoint(res.checkpoint)
    assert tuned.arch == "bvlc-alexnet"
    after = tuned.group("model")
    # one step of SGD from the imported weights moves them a little, not to a fresh draw
    for k in ("conv1.weight", "fc8.weight"):
        delta = float((after[k] - start[k]).abs().max())
        assert 0 < delta < 0.1 * float(start[k].abs().max()), k
    with pytest.raises(ConfigError, match="not the --arch"):
        train(TrainConfig(data=str(data), out=str(tmp_path / "run2"), arch="alexnet2012",
                          init_from=str(imported_small), progress=False),
              overrides={"arch": "alexnet2012"})
