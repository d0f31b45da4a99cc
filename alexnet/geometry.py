"""How big a layer's output is: the 2012 output-size rules, written once.

Every implementation in this project (the cfg parser and the numpy engine of the
re-creation, the PyTorch port, the kernel bindings, the verifier) needs the same few
rules, and each used to carry its own copy with its own argument order. They live here
now, with ONE convention: the input size first, everything else keyword-only, so that a
call cannot swap ``start`` and ``stride`` or ``size`` and ``stride`` unnoticed.

The rules, as facts of the 2012 release (``layer.py`` of computerhistory/AlexNet-Source-Code
@ 2f8b81f7, re-created in :mod:`alexnet.original.layer`):

* conv and local layers (``layer.py`` L1004): ``modulesX = 1 + ceil((2*padding + imgSize -
  filterSize) / stride)``. The ceiling, where today's frameworks round down, is why a
  224x224 crop gives AlexNet 55x55 conv1 maps: the last module reaches past the image
  and reads zeros there (:func:`conv_extra_padding` says how far);
* pooling (``layer.py`` L1163-L1164), used when a cfg gives no ``outputsX``: ``outputsX =
  ceil((imgSize - start - sizeX) / stride) + 1``, windows ``[start + i*stride, +sizeX)``
  clipped to the image (:func:`pool_padding` gives the overhang on each side);
* nailbed (sub-sampling) layers (``layer.py`` L422-L423): ``outputsX = ceil(imgSize /
  stride)``, the samples centred (:func:`nailbed_geometry`).

``padding`` is always the configured, non-negative padding; the kernels' ``paddingStart``
is its negative.
"""

from __future__ import annotations

from alexnet.errors import AlexNetError


class GeometryError(AlexNetError, ValueError):
    """Sizes no layer can have (a stride of 0, a window that fits nowhere)."""


def _ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers (exact, unlike math.ceil of a float for huge values)."""
    return -(-a // b)


def _check_stride(stride: int) -> None:
    if stride <= 0:
        raise GeometryError(f"stride must be positive, got {stride}")


def conv_output_size(img_size: int, *, filter_size: int, stride: int, padding: int = 0) -> int:
    """Filter positions ("modules") per axis of a conv or local layer, as 2012 counts them.

    ``1 + ceil((2*padding + img_size - filter_size) / stride)``; for AlexNet's conv1
    (224, filter 11, stride 4, no padding) this is 55 where PyTorch's floor gives 54.
    """
    _check_stride(stride)
    return 1 + _ceil_div(2 * padding + img_size - filter_size, stride)


def conv_extra_padding(img_size: int, *, filter_size: int, stride: int,
                       padding: int = 0) -> int:
    """Zero rows/columns beyond ``padding`` on the bottom/right that the ceiling implies.

    ``0 <= extra < stride``: conv1 of AlexNet reads 3 of them (224 + 3 = 227 = 54*4 + 11).
    """
    modules = conv_output_size(img_size, filter_size=filter_size, stride=stride,
                               padding=padding)
    return (modules - 1) * stride + filter_size - img_size - 2 * padding


def pool_output_size(img_size: int, *, size: int, stride: int, start: int = 0) -> int:
    """Pooled outputs per axis when the cfg gives no ``outputsX``.

    ``ceil((img_size - start - size) / stride) + 1``: 55 -> 27 -> 13 for AlexNet's
    3x3 windows at stride 2, 32 -> 16 for the CIFAR nets.
    """
    _check_stride(stride)
    return _ceil_div(img_size - start - size, stride) + 1


def pool_padding(img_size: int, *, size: int, stride: int, start: int = 0,
                 outputs: int | None = None) -> tuple[int, int]:
    """(before, after): how far the windows reach outside the image on each side.

    ``outputs`` windows (default: :func:`pool_output_size`) starting at ``start`` (which
    may be negative) with the given ``stride``. Implementations pad by these amounts
    with a value the pooling ignores (-inf for max, a zero that is not counted for avg).
    """
    if outputs is None:
        outputs = pool_output_size(img_size, size=size, stride=stride, start=start)
    before = max(0, -start)
    after = max(0, start + (outputs - 1) * stride + size - img_size)
    return before, after


def nailbed_geometry(img_size: int, *, stride: int) -> tuple[int, int]:
    """(outputs, start) of a nailbed layer: every ``stride``-th pixel, centred.

    ``outputs = ceil(img_size / stride)`` and ``start = (img_size - stride*(outputs-1)) // 2``.
    """
    _check_stride(stride)
    outputs = _ceil_div(img_size, stride)
    return outputs, (img_size - stride * (outputs - 1)) // 2
