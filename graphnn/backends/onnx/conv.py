"""ONNX export and import of the conv family: conv2d <-> Conv (1-D and 2-D, groups, dilations, asymmetric pads,
auto_pad; a bias input imports as an add), conv2d_bias_act -> Conv with B (+ Relu, + MaxPool), conv2d_input_grad
<-> ConvTranspose (pooling is in pool.py); the weight gradient is not exported. 3-D Conv and ConvTranspose import
as gn.conv3d / gn.conv_transpose3d, built from the 2-D ops. Imports graphnn.ir and the onnx room's emitter and
import context.
"""

from __future__ import annotations

from typing import Any

from ...ir.errors import GraphError
from ...ir.graph import Node, Value
from ...ir.ops.conv import conv_transpose2d
from ...ir.ops.shape_ops import squeeze, unsqueeze
from ...ir.ops.volume import conv3d, conv_transpose3d
from .emitter import Emitter, lowering_table
from .import_context import Importer, importer_table, inputs

LOWERINGS = lowering_table("conv")
IMPORTERS = importer_table("conv")
_BACKWARD = "a backward op: it appears only in training graphs, and an ONNX export is an inference graph"
UNSUPPORTED: dict[str, str] = {
    "conv2d_weight_grad": _BACKWARD,
}
NOT_IMPORTED: dict[str, str] = {}


def _pads(padding: tuple) -> list[int]:
    ph, pw = padding
    return [ph, pw, ph, pw]  # ONNX: begins of every spatial axis, then ends


def _conv_attrs(n: Node) -> dict:
    a = n.attrs
    return {"strides": list(a["stride"]), "pads": list(a["padding"]), "dilations": list(a["dilation"]),
            "group": a["groups"]}


@LOWERINGS.register("conv2d", onnx_ops="Conv (NCHW, OIHW, no bias)")
def _conv2d(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Conv", ins, outs, **_conv_attrs(n))


@LOWERINGS.register("conv2d_bias_act", onnx_ops="Conv (with its bias input B), then Relu for activation relu, "
                                                "then MaxPool 2x2 for pool 2")
def _conv2d_bias_act(e: Emitter, n: Node, ins: list, outs: list) -> None:
    steps = [("Conv", _conv_attrs(n))] + ([("Relu", {})] if n.attrs["activation"] == "relu" else []) + \
        ([("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]})] if n.attrs["pool"] == 2 else [])
    cur = ins
    for k, (op, attrs) in enumerate(steps):
        cur = e.emit(op, cur, outs if k == len(steps) - 1 else 1, **attrs)


@LOWERINGS.register("conv2d_input_grad", onnx_ops="ConvTranspose (output_padding from the stored input size)")
def _conv2d_input_grad(e: Emitter, n: Node, ins: list, outs: list) -> None:
    a, (gy, w) = n.attrs, n.inputs
    pad = [0, 0]
    for ax in range(2):  # the transposed size without output padding; the type rule keeps the rest below stride
        base = (gy.shape[2 + ax] - 1) * a["stride"][ax] - a["padding"][ax] - a["padding"][ax + 2] \
            + a["dilation"][ax] * (w.shape[2 + ax] - 1) + 1
        pad[ax] = a["input_size"][ax] - base
    e.emit("ConvTranspose", ins, outs, output_padding=pad, **_conv_attrs(n))


# ---- import ------------------------------------------------------------------------------------------------
def _pads2(attrs: dict, n: Any) -> tuple[int, int]:
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise GraphError(f"{n.op_type} {n.name}: auto_pad is not supported; give explicit pads")
    p = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(p) != 4 or min(p) < 0:
        raise GraphError(f"{n.op_type} {n.name}: pads {p} must be 4 non-negative numbers (2-D begins, then ends)")
    if p[:2] != p[2:]:
        raise GraphError(f"{n.op_type} {n.name}: asymmetric pads {p} are not supported")
    return (p[0], p[1])


def _conv_geometry(n: Any, attrs: dict, x: Value, w: Value) -> tuple[int, dict]:
    """(spatial rank, conv2d attrs) of an ONNX Conv/ConvTranspose node, with auto_pad resolved for Conv."""
    r = x.ndim - 2
    if r not in (1, 2, 3) or w.ndim != x.ndim:
        raise GraphError(f"{n.op_type} {n.name}: only 1-D, 2-D and 3-D convolutions are supported; input {x.type}, "
                         f"weight {w.type}")
    k = [int(d) for d in w.shape[2:]]
    if "kernel_shape" in attrs and list(attrs["kernel_shape"]) != k:
        raise GraphError(f"{n.op_type} {n.name}: kernel_shape {list(attrs['kernel_shape'])} differs from the "
                         f"weights' {w.type}")
    s, d = list(attrs.get("strides", [1] * r)), list(attrs.get("dilations", [1] * r))
    p = list(attrs.get("pads", [0] * 2 * r))
    if len(s) != r or len(d) != r or len(p) != 2 * r or min(p) < 0:
        raise GraphError(f"{n.op_type} {n.name}: strides {s}, dilations {d}, pads {p} do not fit a {r}-D kernel")
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "VALID":
        p = [0] * 2 * r
    elif auto in ("SAME_UPPER", "SAME_LOWER") and n.op_type == "Conv":
        for i in range(r):
            size = x.shape[2 + i]
            if not isinstance(size, int):
                raise GraphError(f"Conv {n.name}: auto_pad {auto} needs a static spatial size, got {x.type}")
            total = max(0, (-(-size // s[i]) - 1) * s[i] + d[i] * (k[i] - 1) + 1 - size)
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            p[i], p[i + r] = lo, total - lo
    elif auto not in ("NOTSET", "SAME_UPPER", "SAME_LOWER"):  # ConvTranspose's SAME: from its output size
        raise GraphError(f"{n.op_type} {n.name}: unknown auto_pad {auto!r}")
    if r == 1:
        s, d, p = [1, s[0]], [1, d[0]], [0, p[0], 0, p[1]]
    return r, {"stride": tuple(s), "padding": tuple(p), "dilation": tuple(d), "groups": int(attrs.get("group", 1))}


def _finish(imp: Importer, y: Value, ins: list, r: int) -> Value:
    """Add the optional bias (per channel) and drop the height axis a 1-D convolution was given."""
    if len(ins) == 3:
        y = imp.op("add", [y, imp.op("reshape", [ins[2]], {"shape": (1, -1) + (1,) * (y.ndim - 2)})], {})
    return squeeze(y, 2) if r == 1 else y


@IMPORTERS.register("Conv")
def _import_conv(imp: Importer, n: Any, attrs: dict) -> list:
    ins = inputs(imp, n)
    r, a = _conv_geometry(n, attrs, ins[0], ins[1])
    if r == 3:  # no 3-D op: conv2d per depth tap over the depth-folded input (ir/ops/volume.py)
        return [_finish(imp, conv3d(ins[0], ins[1], a["stride"], a["padding"], a["dilation"], a["groups"]), ins, r)]
    x, w = (unsqueeze(ins[0], 2), unsqueeze(ins[1], 2)) if r == 1 else ins[:2]
    return [_finish(imp, imp.op("conv2d", [x, w], a), ins, r)]


@IMPORTERS.register("ConvTranspose")
def _import_conv_transpose(imp: Importer, n: Any, attrs: dict) -> list:
    ins = inputs(imp, n)
    r, a = _conv_geometry(n, attrs, ins[0], ins[1])
    x, w = (unsqueeze(ins[0], 2), unsqueeze(ins[1], 2)) if r == 1 else ins[:2]
    op = list(attrs.get("output_padding", [0] * r))
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    want = list(attrs["output_shape"])[-r:] if "output_shape" in attrs else None
    if want is None and auto in ("SAME_UPPER", "SAME_LOWER"):  # ONNX: output size = input size * stride
        want = [x.shape[2 + i + (r == 1)] * a["stride"][i + (r == 1)] for i in range(r)]
    if want is not None:  # the pads follow from the requested size; a negative total is more output padding
        p = []
        for i in range(r):
            ax = i + 1 if r == 1 else i  # the axis of x and of a's lists (a 1-D convolution's are 2-D)
            total = (x.shape[2 + ax] - 1) * a["stride"][ax] + op[i] + a["dilation"][ax] * (w.shape[2 + ax] - 1) + 1 \
                - want[i]
            op[i] -= min(total, 0)
            p.append(max(total, 0))
        lo = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in p]
        pads = [*lo, *[t - q for t, q in zip(p, lo)]]
        a["padding"] = tuple([0, pads[0], 0, pads[1]] if r == 1 else pads)
    build = conv_transpose3d if r == 3 else conv_transpose2d  # 3-D: composed of 2-D ones (ir/ops/volume.py)
    y = build(x, w, a["stride"], a["padding"], tuple([0] + op if r == 1 else op), a["groups"], a["dilation"])
    return [_finish(imp, y, ins, r)]
