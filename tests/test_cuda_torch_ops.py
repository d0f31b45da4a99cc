"""The torch custom operators over the kernels, against PyTorch's own layers, forward and
backward, on CPU tensors (device emulation); the same checks on CUDA tensors when a GPU is
present.

Tolerances: the kernels and PyTorch sum in different orders, both in float32; we compare
against a float64 PyTorch evaluation with rtol 1e-5 and atol 1e-5 x max|reference|
(sums here have at most a few hundred O(1) terms, so float32 error is ~1e-6 relative; an
indexing mistake produces O(1) errors).
"""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F

from alexnet.cuda import bindings_torch as ot
from alexnet.cuda.errors import KernelPreconditionError

pytestmark = pytest.mark.skipif(
    not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
    reason="no C++ compiler for the emulated kernels",
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda":
        # the comparisons need true fp32 on both sides
        # (docs/reference/kernels.md#kernels-torch-conv)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(request.param)


def test_gpu_checks_note():
    if not torch.cuda.is_available():
        pytest.skip("no GPU on this machine: the CUDA-tensor variants of these tests did not run")


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    want = want.detach().double().cpu()
    got = got.detach().double().cpu()
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = want.abs().max().item() or 1.0
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * scale)


def _leaf(t: torch.Tensor, device, dtype=torch.float32) -> torch.Tensor:
    return t.to(device=device, dtype=dtype).detach().requires_grad_()


def _torch_conv_2012(x, w, b, stride, pad, groups):
    """F.conv2d with the 2012 one-sided padding
    (docs/reference/kernels.md#kernels-torch-conv)."""
    S, H = w.shape[-1], x.shape[-1]
    m = 1 + -(-(2 * pad + H - S) // stride)
    e = (m - 1) * stride + S - H - 2 * pad
    return F.conv2d(F.pad(x, (pad, pad + e, pad, pad + e)), w, b, stride=stride, groups=groups)


@pytest.mark.parametrize(
    "C,F_,S,stride,pad,groups,N,partial_sum",
    [
        (3, 16, 5, 1, 0, 1, 4, 0),
        (3, 32, 3, 2, 1, 1, 5, 3),  # 11 -> ceil rule overhang, partialSum chunks
        (8, 32, 3, 3, 2, 2, 3, 1),
        (16, 64, 2, 2, 0, 1, 2, 0),
    ],
)
def test_conv2d_matches_torch_forward_and_backward(device, C, F_, S, stride, pad, groups, N,
                                                   partial_sum):
    g = torch.Generator().manual_seed(C + F_ + S)
    x = torch.randn(N, C, 11, 11, generator=g, dtype=torch.float64)
    w = torch.randn(F_, C // groups, S, S, generator=g, dtype=torch.float64)
    b = torch.randn(F_, generator=g, dtype=torch.float64)
    xs, ws, bs = (_leaf(t, device) for t in (x, w, b))
    y = ot.conv2d(xs, ws, bs, stride=stride, padding=pad, groups=groups, partial_sum=partial_sum)
    xr, wr, br = (_leaf(t, "cpu", torch.float64) for t in (x, w, b))
    yr = _torch_conv_2012(xr, wr, br, stride, pad, groups)
    _close(y, yr)
    gy = torch.randn(yr.shape, generator=g, dtype=torch.float64)
    (y * gy.to(device, torch.float32)).sum().backward()
    (yr * gy).sum().backward()
    _close(xs.grad, xr.grad)
    _close(ws.grad, wr.grad)
    _close(bs.grad, br.grad)


def test_conv2d_unshared_bias_and_grad_of_only_weights(device):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 3, 8, 8, generator=g)
    w = _leaf(torch.randn(16, 3, 3, 3, generator=g), device)
    b = _leaf(torch.randn(16, 8, 8, generator=g), device)
    y = ot.conv2d(x.to(device), w, b, padding=1)
    yr = F.conv2d(x.double(), w.detach().double().cpu(), padding=1) + b.detach().double().cpu()
    _close(y, yr)
    y.sum().backward()  # x needs no grad: only weightActs runs
    assert w.grad is not None and b.grad is not None


def _local_reference(x, w, S, stride, pad, groups):
    """Locally connected layer by unfold + einsum
    (docs/reference/kernels.md#kernels-torch-local)."""
    N, C, H, _ = x.shape
    m = 1 + -(-(2 * pad + H - S) // stride)
    e = (m - 1) * stride + S - H - 2 * pad
    patches = F.unfold(F.pad(x, (pad, pad + e, pad, pad + e)), S, stride=stride)  # (N, CSS, M)
    M, K, Fo = w.shape
    patches = patches.view(N, groups, K, M)
    out = torch.einsum("ngkm,mkgf->ngfm", patches, w.view(M, K, groups, Fo // groups))
    return out.reshape(N, Fo, m, m)


@pytest.mark.parametrize("C,groups,stride,pad", [(3, 1, 1, 1), (8, 2, 2, 0)])
def test_local_conv2d_matches_unfold_reference(device, C, groups, stride, pad):
    g = torch.Generator().manual_seed(C)
    S, H, Fo, N = 3, 6, 32, 3
    m = 1 + -(-(2 * pad + H - S) // stride)
    x = torch.randn(N, C, H, H, generator=g, dtype=torch.float64)
    w = torch.randn(m * m, C // groups * S * S, Fo, generator=g, dtype=torch.float64)
    xs, ws = _leaf(x, device), _leaf(w, device)
    xr, wr = _leaf(x, "cpu", torch.float64), _leaf(w, "cpu", torch.float64)
    y = ot.local_conv2d(xs, ws, filter_size=S, stride=stride, padding=pad, groups=groups)
    yr = _local_reference(xr, wr, S, stride, pad, groups)
    _close(y, yr)
    gy = torch.randn(yr.shape, generator=g, dtype=torch.float64)
    (y * gy.to(device, torch.float32)).sum().backward()
    (yr * gy).sum().backward()
    _close(xs.grad, xr.grad)
    _close(ws.grad, wr.grad)


@pytest.mark.parametrize("size,stride,H", [(3, 2, 7), (3, 2, 8), (2, 2, 6)])
def test_pooling_matches_torch_ceil_mode(device, size, stride, H):
    g = torch.Generator().manual_seed(H)
    x = torch.randn(2, 16, H, H, generator=g, dtype=torch.float64)  # no ties: argmax unique
    for mine, theirs in ((ot.max_pool2d, F.max_pool2d), (ot.avg_pool2d, F.avg_pool2d)):
        xs, xr = _leaf(x, device), _leaf(x, "cpu", torch.float64)
        y = mine(xs, size, stride)
        yr = theirs(xr, size, stride, ceil_mode=True)
        _close(y, yr)
        gy = torch.randn(yr.shape, generator=g, dtype=torch.float64)
        (y * gy.to(device, torch.float32)).sum().backward()
        (yr * gy).sum().backward()
        _close(xs.grad, xr.grad)


def test_max_pool_backward_credits_all_ties_unlike_torch(device):
    x = _leaf(torch.zeros(1, 16, 4, 4), device)
    ot.max_pool2d(x, 2, 2).sum().backward()
    assert torch.equal(x.grad.cpu(), torch.ones(1, 16, 4, 4))


def test_cross_map_norm_matches_local_response_norm(device):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 32, 5, 5, generator=g, dtype=torch.float64) * 3
    xs, xr = _leaf(x, device), _leaf(x, "cpu", torch.float64)
    y = ot.cross_map_norm(xs, 5, 1e-2, 0.75, 2.0)
    yr = F.local_response_norm(xr, 5, alpha=1e-2, beta=0.75, k=2.0)
    _close(y, yr)
    gy = torch.randn(yr.shape, generator=g, dtype=torch.float64)
    (y * gy.to(device, torch.float32)).sum().backward()
    (yr * gy).sum().backward()
    _close(xs.grad, xr.grad)


def _box_sum(t: torch.Tensor, size: int) -> torch.Tensor:
    """Sum over rows/cols [p - size//2, p - size//2 + size), zero outside."""
    lo, hi = size // 2, size - 1 - size // 2
    ones = torch.ones(t.shape[1], 1, size, size, dtype=t.dtype)
    return F.conv2d(F.pad(t, (lo, hi, lo, hi)), ones, groups=t.shape[1])


@pytest.mark.parametrize("size", [3, 4])
def test_response_and_contrast_norm_match_torch_formulas(device, size):
    g = torch.Generator().manual_seed(size)
    x = torch.randn(2, 16, 6, 6, generator=g, dtype=torch.float64) * 2
    add = 0.5 / size**2
    gy = torch.randn(x.shape, generator=g, dtype=torch.float64)
    for centered in (False, True):
        xs, xr = _leaf(x, device), _leaf(x, "cpu", torch.float64)
        fn = ot.contrast_norm if centered else ot.response_norm
        y = fn(xs, size, 0.5, 0.75)
        u = xr
        if centered:
            count = _box_sum(torch.ones_like(xr), size)
            mean = (_box_sum(xr, size) / count).detach()  # the 2012 backward holds it constant
            u = xr - mean
        yr = xr * (1 + add * _box_sum(u * u, size)) ** -0.75
        _close(y, yr)
        (y * gy.to(device, torch.float32)).sum().backward()
        (yr * gy).sum().backward()
        _close(xs.grad, xr.grad)


def test_ops_are_registered_with_torch():
    assert hasattr(torch.ops.alexnet_cuda, "filter_acts")
    images = torch.randn(3, 6, 6, 4)
    filters = torch.randn(3, 3, 3, 16)
    torch.library.opcheck(
        torch.ops.alexnet_cuda.filter_acts.default,
        (images, filters, 6, 6, -1, 1, 1, True, 0),
        test_utils=("test_schema", "test_faketensor"),
    )
    with torch.device("meta"):
        out = torch.ops.alexnet_cuda.filter_acts(torch.empty(3, 6, 6, 4),
                                                 torch.empty(3, 3, 3, 16), 6, 6, -1, 1, 1,
                                                 True, 0)
    assert out.shape == (16, 6, 6, 4)


def test_bad_tensors_are_one_line_errors():
    x = torch.randn(2, 3, 8, 8)
    w = torch.randn(16, 3, 3, 3)
    with pytest.raises(KernelPreconditionError, match="float32") as info:
        ot.conv2d(x.double(), w.double())
    assert "\n" not in str(info.value)
    with pytest.raises(KernelPreconditionError, match="multiple of 16"):
        ot.conv2d(x, torch.randn(24, 3, 3, 3))
    with pytest.raises(KernelPreconditionError, match="contiguous"):
        torch.ops.alexnet_cuda.filter_acts(torch.randn(8, 8, 3, 2).permute(2, 0, 1, 3),
                                           torch.randn(3, 3, 3, 16), 6, 6, 0, 1, 1, True, 0)
    with pytest.raises(KernelPreconditionError, match="CPU .* or a CUDA GPU"):
        ot.conv2d(x.to("meta"), w.to("meta"))
    with pytest.raises(KernelPreconditionError, match="bias must have shape"):
        ot.conv2d(x, w, torch.randn(15))
    with pytest.raises(KernelPreconditionError, match="square"):
        ot.max_pool2d(torch.randn(1, 16, 6, 5), 3, 2)
    with pytest.raises(KernelPreconditionError, match="multiple of 16"):
        ot.cross_map_norm(torch.randn(1, 8, 4, 4), 5, 1e-4, 0.75)
    y = ot.pool2d(torch.randn(1, 16, 6, 6, requires_grad=True), "maxabs", 2, 2)
    with pytest.raises(KernelPreconditionError, match="no gradient kernel"):
        y.sum().backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU: mixed-device check skipped")
def test_mixed_devices_are_refused():
    with pytest.raises(KernelPreconditionError, match="one device"):
        ot.conv2d(torch.randn(2, 3, 8, 8), torch.randn(16, 3, 3, 3, device="cuda"))
