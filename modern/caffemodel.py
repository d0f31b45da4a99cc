"""Reading Caffe's ``.caffemodel`` and ``.binaryproto`` files without Caffe.

A ``.caffemodel`` is one serialised ``NetParameter`` protocol-buffer message; a
``.binaryproto`` mean file is one ``BlobProto``. This module decodes the protobuf wire
format itself (a varint / length-delimited reader of about a hundred lines) rather than
depending on the ``protobuf`` package, for three reasons:

* no new dependency and no generated code: the few messages and field numbers we need
  (facts of Caffe's published schema, listed below in our own words) fit in small tables;
* every length read from the file is checked against the bytes that remain *before*
  anything is allocated, so a truncated or hostile file gives a one-line error naming the
  byte offset instead of a MemoryError or a partial model;
* the weights are a few long runs of little-endian floats; we view them with
  ``numpy.frombuffer`` (one copy per blob) instead of building Python lists of 61 million
  floats.

What is read (field numbers as in Caffe's ``caffe.proto``):

``NetParameter``
    ``name`` (1), the current ``layer`` list (100, ``LayerParameter``) and the legacy V1
    ``layers`` list (2, ``V1LayerParameter``, written by Caffe before 2015: the BVLC
    model-zoo files use it). A file with both is refused, as Caffe refuses it.
``LayerParameter``
    ``name`` 1, ``type`` 2 (a string), ``blobs`` 7, and the parameters that decide the
    arithmetic of the layers the BVLC nets use: ``convolution_param`` 106,
    ``dropout_param`` 108, ``inner_product_param`` 117, ``lrn_param`` 118,
    ``pooling_param`` 121.
``V1LayerParameter``
    ``name`` 4, ``type`` 5 (an enum, translated to the current type names), ``blobs`` 6,
    ``convolution_param`` 10, ``dropout_param`` 12, ``inner_product_param`` 17,
    ``lrn_param`` 18, ``pooling_param`` 19. A V1 layer wrapping a V0 layer (field 1, the
    format of 2013) is refused with a message.
``BlobProto``
    the shape either as ``shape`` (7, a ``BlobShape`` whose ``dim`` 1 is a list of int64,
    packed or not) or as the legacy ``num``/``channels``/``height``/``width`` (1-4); the
    values as float ``data`` (5, packed or one field per value) or ``double_data``
    (8, likewise). Gradients (``diff`` 6, ``double_diff`` 9) are skipped.

Unknown fields are skipped by their wire type, as every protobuf reader does, so files
written by later Caffe versions (or forks that add fields) still read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alexnet.errors import CheckpointError

__all__ = ["Blob", "CaffeLayer", "CaffeNet", "read_caffemodel", "parse_net", "read_blobproto",
           "parse_blob", "V1_LAYER_TYPES"]

# wire types
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5

#: V1 ``LayerParameter.LayerType`` enum values -> today's type strings (the subset a
#: classification net uses; others are reported as ``V1:<number>``)
V1_LAYER_TYPES: dict[int, str] = {
    1: "Accuracy", 3: "Concat", 4: "Convolution", 5: "Data", 6: "Dropout", 8: "Flatten",
    12: "ImageData", 14: "InnerProduct", 15: "LRN", 17: "Pooling", 18: "ReLU",
    19: "Sigmoid", 20: "Softmax", 21: "SoftmaxWithLoss", 22: "Split", 23: "TanH",
    29: "MemoryData",
}

# Parameter messages: field number -> (name, kind); kinds: "uint" (varint), "bool",
# "float" (fixed32), "enum"; a name ending in "[]" is repeated.
_CONV = {1: ("num_output", "uint"), 2: ("bias_term", "bool"), 3: ("pad[]", "uint"),
         4: ("kernel_size[]", "uint"), 5: ("group", "uint"), 6: ("stride[]", "uint"),
         9: ("pad_h", "uint"), 10: ("pad_w", "uint"), 11: ("kernel_h", "uint"),
         12: ("kernel_w", "uint"), 13: ("stride_h", "uint"), 14: ("stride_w", "uint"),
         16: ("axis", "uint"), 18: ("dilation[]", "uint")}
_POOL = {1: ("pool", "enum"), 2: ("kernel_size", "uint"), 3: ("stride", "uint"),
         4: ("pad", "uint"), 5: ("kernel_h", "uint"), 6: ("kernel_w", "uint"),
         7: ("stride_h", "uint"), 8: ("stride_w", "uint"), 9: ("pad_h", "uint"),
         10: ("pad_w", "uint"), 12: ("global_pooling", "bool"), 13: ("round_mode", "enum")}
_LRN = {1: ("local_size", "uint"), 2: ("alpha", "float"), 3: ("beta", "float"),
        4: ("norm_region", "enum"), 5: ("k", "float")}
_IP = {1: ("num_output", "uint"), 2: ("bias_term", "bool"), 5: ("axis", "uint"),
       6: ("transpose", "bool")}
_DROP = {1: ("dropout_ratio", "float")}

#: (current LayerParameter field, V1 field) -> (params key, message table)
_PARAMS_CURRENT = {106: ("convolution", _CONV), 108: ("dropout", _DROP),
                   117: ("inner_product", _IP), 118: ("lrn", _LRN), 121: ("pooling", _POOL)}
_PARAMS_V1 = {10: ("convolution", _CONV), 12: ("dropout", _DROP), 17: ("inner_product", _IP),
              18: ("lrn", _LRN), 19: ("pooling", _POOL)}


@dataclass
class Blob:
    """One parameter blob: its declared shape and its values (float32, flattened).

    ``legacy_shape`` is True when the shape came from num/channels/height/width (always
    four numbers, leading ones padding a smaller blob: a bias of 96 is (1, 1, 1, 96)).
    """

    shape: tuple[int, ...]
    data: np.ndarray
    legacy_shape: bool = False

    def squeezed_shape(self, ndim: int) -> tuple[int, ...]:
        """The shape with leading 1s dropped until ``ndim`` axes remain (when possible)."""
        shape = list(self.shape)
        while len(shape) > ndim and shape[0] == 1:
            shape.pop(0)
        return tuple(shape)


@dataclass
class CaffeLayer:
    """One layer of the net: name, type, blobs and the parameters read (see module doc)."""

    name: str
    type: str
    blobs: list[Blob] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    offset: int = 0   # byte offset of the layer's message in the file, for messages


@dataclass
class CaffeNet:
    """A decoded ``NetParameter``: its name, its layers in file order, and which list held
    them (``"layer"`` for the current format, ``"layers (V1)"`` for the legacy one)."""

    name: str
    layers: list[CaffeLayer]
    format: str

    def layer(self, name: str) -> CaffeLayer | None:
        for lay in self.layers:
            if lay.name == name:
                return lay
        return None


# --------------------------------------------------------------------------------------
# Wire format


class _Wire:
    """Bounds-checked reads from one buffer; every error names the source and the offset."""

    def __init__(self, buf: bytes | memoryview, source: str) -> None:
        self.buf = memoryview(buf)
        self.source = source

    def fail(self, pos: int, what: str) -> CheckpointError:
        return CheckpointError(f"{self.source}: corrupt or truncated at byte {pos}: {what}")

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        value, shift, start = 0, 0, pos
        buf = self.buf
        while True:
            if pos >= end:
                raise self.fail(start, "a varint runs past the end of its message")
            b = buf[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value, pos
            shift += 7
            if shift >= 70:
                raise self.fail(start, "a varint longer than 10 bytes")

    def next_field(self, pos: int, end: int) -> tuple[int, int, Any, int, int, int]:
        """The field whose tag starts at ``pos``: (number, wire type, value, tag offset,
        value offset, offset after it). The value is an int for varints, a (start, end)
        pair for length-delimited fields and None for fixed-width ones (read them at the
        value offset)."""
        tag_at = pos
        key, pos = self.varint(pos, end)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise self.fail(tag_at, "field number 0")
        if wt == _VARINT:
            value, nxt = self.varint(pos, end)
            return num, wt, value, tag_at, pos, nxt
        if wt == _LEN:
            length, vstart = self.varint(pos, end)
            if length > end - vstart:
                raise self.fail(tag_at, f"field {num} declares {length} bytes, only "
                                        f"{end - vstart} remain in its message")
            return num, wt, (vstart, vstart + length), tag_at, vstart, vstart + length
        if wt in (_I32, _I64):
            size = 4 if wt == _I32 else 8
            if size > end - pos:
                raise self.fail(tag_at, f"field {num} needs {size} bytes, only "
                                        f"{end - pos} remain")
            return num, wt, None, tag_at, pos, pos + size
        raise self.fail(tag_at, f"field {num} has wire type {wt} (groups are not used by "
                                "Caffe's messages)")

    def fields(self, start: int, end: int):
        """Yields (number, wire type, value, tag offset, value offset) for every field of
        the message in ``[start, end)`` (see :meth:`next_field`)."""
        pos = start
        while pos < end:
            num, wt, value, tag_at, vpos, pos = self.next_field(pos, end)
            yield num, wt, value, tag_at, vpos

    def f32(self, pos: int) -> float:
        return struct.unpack_from("<f", self.buf, pos)[0]

    def string(self, span: tuple[int, int], tag_at: int) -> str:
        try:
            return bytes(self.buf[span[0]:span[1]]).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(tag_at, "a string field is not UTF-8") from None

    def packed_varints(self, span: tuple[int, int]) -> list[int]:
        out, pos = [], span[0]
        while pos < span[1]:
            v, pos = self.varint(pos, span[1])
            out.append(v)
        return out


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# --------------------------------------------------------------------------------------
# Messages


def _parse_params(w: _Wire, span: tuple[int, int], table: dict[int, tuple[str, str]]
                  ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for num, wt, value, tag_at, vpos in w.fields(*span):
        if num not in table:
            continue
        name, kind = table[num]
        repeated = name.endswith("[]")
        key = name[:-2] if repeated else name
        if kind == "float":
            if wt == _I32:
                vals = [w.f32(vpos)]
            elif wt == _LEN and repeated:
                vals = list(np.frombuffer(w.buf, "<f4", (value[1] - value[0]) // 4, value[0]))
            else:
                raise w.fail(tag_at, f"{key} has wire type {wt}, expected a 32-bit float")
        elif wt == _VARINT:
            vals = [value]
        elif wt == _LEN and repeated:
            vals = w.packed_varints(value)
        else:
            raise w.fail(tag_at, f"{key} has wire type {wt}, expected a varint")
        if kind == "bool":
            vals = [bool(v) for v in vals]
        elif kind == "float":
            vals = [float(v) for v in vals]
        if repeated:
            out.setdefault(key, []).extend(vals)
        else:
            out[key] = vals[-1]   # protobuf: the last occurrence of a scalar wins
    return out


def _fixed_run(w: _Wire, vpos: int, end: int, tag: bytes, size: int, dtype: str
               ) -> tuple[np.ndarray, int]:
    """Values of a non-packed repeated fixed-width field: the run of consecutive
    ``tag value`` records starting at the tag before ``vpos``; returns (values, end)."""
    start = vpos - len(tag)
    rec = len(tag) + size
    n_max = (end - start) // rec
    raw = np.frombuffer(w.buf, np.uint8, n_max * rec, start).reshape(n_max, rec)
    same = np.all(raw[:, : len(tag)] == np.frombuffer(tag, np.uint8), axis=1)
    n = int(np.argmin(same)) if not same.all() else n_max
    vals = np.ascontiguousarray(raw[:n, len(tag):]).view(dtype).reshape(-1)
    return vals, start + n * rec


def _dims(w: _Wire, span: tuple[int, int], where: str) -> list[int]:
    dims: list[int] = []
    for num, wt, value, tag_at, _ in w.fields(*span):
        if num != 1:
            continue
        if wt == _VARINT:
            dims.append(_signed64(value))
        elif wt == _LEN:
            dims.extend(_signed64(d) for d in w.packed_varints(value))
        else:
            raise w.fail(tag_at, f"{where}: a shape dim has wire type {wt}")
    return dims


def _parse_blob(w: _Wire, span: tuple[int, int], where: str) -> Blob:
    legacy = {1: 0, 2: 0, 3: 0, 4: 0}
    has_legacy = False
    dims: list[int] | None = None
    parts: dict[int, list[np.ndarray]] = {5: [], 8: []}
    pos, end = span
    while pos < end:
        num, wt, value, tag_at, vpos, pos = w.next_field(pos, end)
        if num in legacy and wt == _VARINT:
            legacy[num] = _signed64(value)
            has_legacy = True
        elif num == 7 and wt == _LEN:
            dims = _dims(w, value, where)
        elif num in (5, 8):
            size, dtype, fixed = (4, "<f4", _I32) if num == 5 else (8, "<f8", _I64)
            if wt == _LEN:
                length = value[1] - value[0]
                if length % size:
                    raise w.fail(tag_at, f"{where}: packed values of {length} bytes are not "
                                         f"a whole number of {size}-byte floats")
                parts[num].append(np.frombuffer(w.buf, dtype, length // size, value[0]))
            elif wt == fixed:
                # one field per value (protobuf's unpacked encoding): take the whole run
                # of identical tags at once instead of one Python step per float
                vals, pos = _fixed_run(w, vpos, end, bytes(w.buf[tag_at:vpos]), size, dtype)
                parts[num].append(vals)
            else:
                raise w.fail(tag_at, f"{where}: values field {num} has wire type {wt}")
    if parts[5] and parts[8]:
        raise w.fail(span[0], f"{where}: a blob with both float and double values")
    if dims is not None:
        shape, legacy_shape = tuple(dims), False
    elif has_legacy:
        shape, legacy_shape = (legacy[1], legacy[2], legacy[3], legacy[4]), True
    else:
        raise w.fail(span[0], f"{where}: a blob without a shape")
    if any(d < 0 for d in shape):
        raise w.fail(span[0], f"{where}: negative dimension in shape {shape}")
    chunks = parts[5] or parts[8]
    count = sum(int(c.shape[0]) for c in chunks)
    expected = int(np.prod(shape, dtype=np.int64))
    if count != expected:
        raise w.fail(span[0], f"{where}: shape {shape} holds {expected} values, the blob "
                              f"has {count}")
    data = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return Blob(shape, data, legacy_shape)


def _parse_layer(w: _Wire, span: tuple[int, int], tag_at: int, v1: bool, index: int
                 ) -> CaffeLayer:
    name_f, type_f, blobs_f = (4, 5, 6) if v1 else (1, 2, 7)
    params_table = _PARAMS_V1 if v1 else _PARAMS_CURRENT
    layer = CaffeLayer(name=f"#{index}", type="", offset=tag_at)
    blob_spans: list[tuple[int, int]] = []
    for num, wt, value, t, _ in w.fields(*span):
        if num == name_f and wt == _LEN:
            layer.name = w.string(value, t)
        elif num == type_f:
            if v1 and wt == _VARINT:
                layer.type = V1_LAYER_TYPES.get(value, f"V1:{value}")
            elif not v1 and wt == _LEN:
                layer.type = w.string(value, t)
            else:
                raise w.fail(t, f"layer {index}: type field has wire type {wt}")
        elif num == blobs_f and wt == _LEN:
            blob_spans.append(value)
        elif num in params_table and wt == _LEN:
            key, table = params_table[num]
            layer.params[key] = _parse_params(w, value, table)
        elif v1 and num == 1 and wt == _LEN:
            raise w.fail(t, f"layer {index} wraps a V0 layer (Caffe's 2013 format); "
                            "upgrade it with Caffe's upgrade_net_proto_binary first")
    for i, bs in enumerate(blob_spans):
        layer.blobs.append(_parse_blob(w, bs, f"layer {layer.name!r} blob {i}"))
    return layer


def parse_net(data: bytes | memoryview, source: str = "<bytes>") -> CaffeNet:
    """Decode a serialised ``NetParameter`` (the content of a ``.caffemodel``)."""
    w = _Wire(data, source)
    end = len(w.buf)
    name = ""
    current: list[tuple[tuple[int, int], int]] = []
    legacy: list[tuple[tuple[int, int], int]] = []
    for num, wt, value, tag_at, _ in w.fields(0, end):
        if num == 1 and wt == _LEN:
            name = w.string(value, tag_at)
        elif num == 100 and wt == _LEN:
            current.append((value, tag_at))
        elif num == 2 and wt == _LEN:
            legacy.append((value, tag_at))
    if current and legacy:
        raise CheckpointError(f"{source}: holds both current ('layer') and V1 ('layers') "
                              "layer lists; Caffe refuses such a net too")
    if not current and not legacy:
        raise CheckpointError(f"{source}: no layers (not a Caffe NetParameter / .caffemodel)")
    v1 = bool(legacy)
    layers = [_parse_layer(w, span, tag_at, v1, i)
              for i, (span, tag_at) in enumerate(legacy or current)]
    return CaffeNet(name=name, layers=layers, format="layers (V1)" if v1 else "layer")


def read_caffemodel(path: str | Path) -> CaffeNet:
    """Read and decode a ``.caffemodel`` file (see :func:`parse_net`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{p}: cannot read ({exc.strerror or exc})") from None
    return parse_net(data, str(p))


def parse_blob(data: bytes | memoryview, source: str = "<bytes>") -> Blob:
    """Decode one serialised ``BlobProto`` (the content of a ``.binaryproto``)."""
    w = _Wire(data, source)
    return _parse_blob(w, (0, len(w.buf)), "blob")


def read_blobproto(path: str | Path) -> Blob:
    """Read a ``.binaryproto`` file, e.g. Caffe's ImageNet mean image (1, 3, 256, 256)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{p}: cannot read ({exc.strerror or exc})") from None
    return parse_blob(data, str(p))
