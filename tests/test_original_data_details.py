"""The re-creation's data details that used to be checked only by hand.

Each test feeds the 2012 data providers (alexnet.original.convdata) pictures whose pixel
values say where they came from, so a crop, a mirror or a view can be read back from the
output exactly, and the 10-view test path of the engine (alexnet.original.engine) a net
whose per-view outputs can be computed one by one. What each detail re-creates:

* ``inet-lr-cropped`` draws one crop offset and one mirror decision per chunk of 32
  images, ``cifar-cropped`` one per image, and offsets run over 0..2*border inclusive on
  both axes (ledger row ``crops-shared-per-chunk``, which gives the upstream lines);
* the mean subtracted from a crop is the central window of the mean image, whatever
  the crop (ledger row ``mean-central-window``);
* the multiview test averages the softmax outputs of the views before scoring them
  (src/worker.cu L150-L177 and src/layer.cu L1804-L1839, as engine.multiview_test says).

Exact comparisons are used wherever the maths is exact (integer pixel codes, crops are
copies); the softmax average is compared at float32 rounding (rtol 1e-6), because the
engine sums the views in float64 and rounds once while the test averages float32 views.
"""

from __future__ import annotations

import numpy as np
import pytest

from alexnet.original import batches, cfgs, convdata
from alexnet.original.engine import TEST, Engine
from alexnet.original.initial_weights import init_weights
from alexnet.original.layer import parse_layers

SIZE, BORDER = 12, 2
INNER = SIZE - 2 * BORDER


def _coded_folder(tmp_path, n: int, size: int = SIZE, mean=None):
    """A batch whose channel 0 holds each pixel's position code y*size + x (below 256
    for size <= 16) in every image, so a crop's offset and mirror can be read back;
    channels 1 and 2 hold the image number."""
    y, x = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    ch0 = (y * size + x).astype(np.uint8)                       # position code, < 144
    data = np.empty((3, size, size, n), dtype=np.uint8)
    data[0] = ch0[..., None]
    data[1] = (np.arange(n) % 256).astype(np.uint8)[None, None, :]
    data[2] = (np.arange(n) // 256).astype(np.uint8)[None, None, :]
    folder = tmp_path / "coded"
    batches.write_batch(folder, 1, data.reshape(-1, n), [0] * n)
    batches.write_meta(folder, label_names=["a", "b"],
                       data_mean=np.zeros(3 * size * size) if mean is None else mean,
                       num_cases_per_batch=n, extra={"img_size": size})
    return folder


def _decode(crops: np.ndarray, n: int) -> list[tuple[int, int, bool]]:
    """(offset y, offset x, mirrored) of each cropped image, read from channel 0."""
    pics = crops.reshape(3, INNER, INNER, n)[0].astype(np.int64)
    out = []
    for k in range(n):
        first, second = pics[0, 0, k], pics[0, 1, k]
        sy, col = divmod(int(first), SIZE)
        mirrored = int(second) == int(first) - 1
        sx = col - (INNER - 1) if mirrored else col
        out.append((sy, sx, mirrored))
        # the whole crop is the window it claims to be
        want = (np.arange(sy, sy + INNER)[:, None] * SIZE + np.arange(sx, sx + INNER)[None, :])
        if mirrored:
            want = want[:, ::-1]
        np.testing.assert_array_equal(pics[:, :, k], want)
    return out


def _train_provider(folder, kind: str, seed: int):
    return convdata.get_instance(str(folder), [1], type=kind,
                                 dp_params={"crop_border": BORDER, "seed": seed})


def test_imagenet_provider_draws_one_crop_and_flip_per_32_images(tmp_path):
    n = 32 * 6
    folder = _coded_folder(tmp_path, n)
    seen = set()
    for seed in range(4):
        _, _, (data, _) = _train_provider(folder, "inet-lr-cropped", seed).get_next_batch()
        views = _decode(data, n)
        for c in range(0, n, 32):
            block = views[c:c + 32]
            assert len(set(block)) == 1, f"chunk at {c} mixes crops: {sorted(set(block))}"
            seen.add(block[0])
    # 24 chunks drew different crops/flips (with 25 x 2 possibilities, a constant draw
    # would be a broken generator, not luck)
    assert len(seen) > 6
    assert {m for _, _, m in seen} == {True, False}


def test_cifar_provider_draws_a_crop_and_flip_per_image(tmp_path):
    n = 64
    folder = _coded_folder(tmp_path, n)
    _, _, (data, _) = _train_provider(folder, "cifar-cropped", 0).get_next_batch()
    views = _decode(data, n)
    assert len(set(views[:32])) > 4          # not shared by a chunk as ImageNet's are


@pytest.mark.parametrize("kind", ["cifar-cropped", "inet-lr-cropped"])
def test_crop_offsets_cover_zero_to_twice_the_border_inclusive(tmp_path, kind):
    n = 32 * 8
    folder = _coded_folder(tmp_path, n)
    ys, xs = set(), set()
    for seed in range(12):
        _, _, (data, _) = _train_provider(folder, kind, seed).get_next_batch()
        for sy, sx, _ in _decode(data, n):
            ys.add(sy)
            xs.add(sx)
    assert ys == set(range(2 * BORDER + 1)) and xs == set(range(2 * BORDER + 1))


def test_mean_subtracted_from_a_crop_is_the_central_window_of_the_mean(tmp_path):
    n = 4
    rng = np.random.default_rng(0)
    mean = rng.uniform(0, 255, 3 * SIZE * SIZE)
    folder = _coded_folder(tmp_path, n, mean=mean)
    raw = batches.read_batch(folder, 1)["data"].reshape(3, SIZE, SIZE, n).astype(np.float32)
    centre = np.asarray(mean, np.float32).reshape(3, SIZE, SIZE)[
        :, BORDER:BORDER + INNER, BORDER:BORDER + INNER]
    for kind in ("cifar-cropped", "inet-lr-cropped"):
        dp = convdata.get_instance(str(folder), [1], type=kind,
                                   dp_params={"crop_border": BORDER}, test=True)
        np.testing.assert_array_equal(dp.mean_crop.reshape(3, INNER, INNER), centre)
        _, _, (data, _) = dp.get_next_batch()
        want = raw[:, BORDER:BORDER + INNER, BORDER:BORDER + INNER, :] - centre[..., None]
        np.testing.assert_array_equal(data.reshape(3, INNER, INNER, n), want)
        # training crops subtract the same window wherever the crop was taken: adding it
        # back gives whole position codes again
        train = convdata.get_instance(str(folder), [1], type=kind,
                                      dp_params={"crop_border": BORDER, "seed": 1})
        _, _, (tdata, _) = train.get_next_batch()
        pics = (tdata.reshape(3, INNER, INNER, n) + centre[..., None])[0]
        np.testing.assert_allclose(pics, np.round(pics), atol=1e-3)  # float32 rounding


def test_ten_views_are_the_corners_centre_and_their_mirrors(tmp_path):
    n = 3
    folder = _coded_folder(tmp_path, n)
    dp = convdata.get_instance(str(folder), [1], type="inet-lr-cropped",
                               dp_params={"crop_border": BORDER, "multiview_test": 1},
                               test=True)
    _, _, (data, labels) = dp.get_next_batch()
    assert dp.num_views == 10 and labels.shape == (1, 10 * n)
    b2 = 2 * BORDER
    want = [(0, 0), (0, b2), (BORDER, BORDER), (b2, 0), (b2, b2)]
    got = [_decode(data[:, v * n:(v + 1) * n], n) for v in range(10)]
    for v in range(10):
        assert set(got[v]) == {(*want[v % 5], v >= 5)}, f"view {v}"


def test_multiview_test_averages_the_softmax_of_the_views(tmp_path):
    g = parse_layers(*cfgs.pair("80sec"))
    layers = {name: lay.d for name, lay in g.layers.items()}
    init_weights(layers, seed=0)
    e = Engine(layers)
    rng = np.random.default_rng(4)
    n, views = 6, 10
    x = (rng.standard_normal((3 * 32 * 32, n * views)) * 40).astype(np.float32)
    y = np.tile(rng.integers(0, 10, (1, n)).astype(np.float32), (1, views))
    costs, cases, probs = e.multiview_test([x, y], views, minibatch_size=4)
    assert cases == n and probs.shape == (n, 10)
    per_view = []
    for v in range(views):
        e.fprop([np.ascontiguousarray(x[:, v * n:(v + 1) * n]), y[:, :n]], TEST)
        per_view.append(e.acts["probs"].T.copy())
        e.acts.clear()
    average = np.mean(np.stack(per_view).astype(np.float64), axis=0)
    np.testing.assert_allclose(probs, average, rtol=1e-6, atol=1e-9)
    # scored on the average: top-1 errors counted from the averaged probabilities
    wrong = int((average.argmax(axis=1) != y[0, :n]).sum())
    assert costs["logprob"][1] == pytest.approx(wrong)
