"""ONNX export and import of the resample family: pad <-> Pad (the opset-2 attribute form and the opset-11+ input
form on import), resize <-> Resize (scales or sizes; nearest or linear; the coordinate modes PyTorch writes);
the backward ops are not exported. Imports graphnn.ir and the onnx room's emitter and import context.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.errors import GraphError
from ...ir.graph import Node
from ...ir.ops import resample as R
from .emitter import Emitter, lowering_table
from .import_context import Importer, importer_table

LOWERINGS = lowering_table("resample")
IMPORTERS = importer_table("resample")
_BACKWARD = "a backward op: it appears only in training graphs, and an ONNX export is an inference graph"
UNSUPPORTED: dict[str, str] = {"pad_grad": _BACKWARD, "resize_grad": _BACKWARD}
NOT_IMPORTED: dict[str, str] = {}


@LOWERINGS.register("pad", onnx_ops="Pad (pads and the constant as inputs)")
def _pad(e: Emitter, n: Node, ins: list, outs: list) -> None:
    pads = n.attrs["pads"]
    flat = [b for b, _ in pads] + [a for _, a in pads]
    extra = [e.scalar_like(n.attrs["value"], n.inputs[0], "pad_value")] if n.attrs["mode"] == "constant" else []
    e.emit("Pad", [ins[0], e.i64(flat, "pads"), *extra], outs, mode=n.attrs["mode"])


@LOWERINGS.register("resize", onnx_ops="Resize (scales, or sizes when given; coordinate and nearest modes)")
def _resize(e: Emitter, n: Node, ins: list, outs: list) -> None:
    a = n.attrs
    attrs: dict[str, Any] = {"mode": a["mode"], "coordinate_transformation_mode": a["coord"]}
    if a["mode"] == "nearest":
        attrs["nearest_mode"] = a["nearest_mode"]
    x = n.inputs[0]
    # The float32 scales reproduce the sizes (in float32 and in double, as runtimes and shape inference compute):
    # give them, since the coordinates use these very scales; else give the sizes (the runtime then takes
    # size/in as the scale, as graphnn did).
    exact = all(int(np.float32(d) * np.float32(s)) == o == int(d * float(np.float32(s)))
                for d, s, o in zip(x.shape[2:], a["scales"], a["size"]))
    if exact:
        sc = e.const([1.0, 1.0, *a["scales"]], "float32", "scales")
        e.emit("Resize", [ins[0], "", sc], outs, **attrs)
    else:
        e.emit("Resize", [ins[0], "", "", e.shape_tensor(n.outputs[0].shape)], outs, **attrs)


# ---- import ------------------------------------------------------------------------------------------------
@IMPORTERS.register("Pad")
def _import_pad(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in R.PAD_MODES:
        raise GraphError(f"Pad mode {mode!r} is not supported (constant, reflect, edge)")
    if imp.opset < 11:
        flat, value = [int(p) for p in attrs.get("pads", attrs.get("paddings", []))], float(attrs.get("value", 0.0))
    else:
        flat = [int(p) for p in imp.need_const(n.input[1], "pads")]
        value = 0.0
        if len(n.input) > 2 and n.input[2]:
            value = float(imp.need_const(n.input[2], "constant_value").reshape(-1)[0])
    axes = list(range(x.ndim))
    if len(n.input) > 3 and n.input[3]:
        axes = [int(a) % x.ndim for a in imp.need_const(n.input[3], "axes")]
    if len(flat) != 2 * len(axes):
        raise GraphError(f"pads {flat} do not give a (begin, end) for each of {len(axes)} axes")
    pairs = [(0, 0)] * x.ndim
    for i, ax in enumerate(axes):
        pairs[ax] = (flat[i], flat[i + len(axes)])
    return [imp.op("identity", [R.pad(x, pairs, mode, value)], {}, n.output[0])]


@IMPORTERS.register("Resize", "Upsample")
def _import_resize(imp: Importer, n: Any, attrs: dict) -> list:
    def text(k: str, default: str) -> str:
        v = attrs.get(k, default)
        return v.decode() if isinstance(v, bytes) else v

    x = imp.value(n.input[0])
    mode = text("mode", "nearest")
    mode = "linear" if mode in ("linear", "bilinear") else mode
    coord = text("coordinate_transformation_mode", "half_pixel" if imp.opset >= 11 else "asymmetric")
    nearest = text("nearest_mode", "round_prefer_floor" if imp.opset >= 11 else "floor")
    if mode not in R.RESIZE_MODES or coord not in R.COORD_MODES or nearest not in R.NEAREST_MODES:
        raise GraphError(f"Resize mode {mode!r}, coordinate_transformation_mode {coord!r}, nearest_mode "
                         f"{nearest!r}: graphnn supports {R.RESIZE_MODES}, {R.COORD_MODES}, {R.NEAREST_MODES}")
    if attrs.get("antialias", 0) or attrs.get("axes") is not None or attrs.get("exclude_outside", 0):
        raise GraphError("Resize antialias, axes and exclude_outside are not supported")
    if n.op_type == "Upsample" and "scales" in attrs:
        scales, sizes = list(attrs["scales"]), None
    else:
        at = 1 if n.op_type == "Upsample" or imp.opset < 11 else 2
        scales = [float(s) for s in imp.need_const(n.input[at], "scales")] if len(n.input) > at and n.input[at] \
            else None
        if scales is not None and len(scales) == 0:
            scales = None
        # sizes may come from Shape arithmetic, its N and C symbolic: only the spatial entries must be numbers
        sizes = list(imp.need_const(n.input[3], "sizes")) if scales is None and len(n.input) > 3 and n.input[3] \
            else None
    if (scales is None) == (sizes is None):
        raise GraphError("Resize needs exactly one of scales and sizes")
    lead = scales[:2] if scales is not None else None
    if lead is not None and lead != [1.0, 1.0]:
        raise GraphError(f"Resize scales {scales}: only the spatial axes (2 and on) can be resized")
    if sizes is not None:
        if any(isinstance(d, int) and isinstance(s, (int, np.integer)) and d != s for d, s in zip(x.shape[:2], sizes)):
            raise GraphError(f"Resize sizes {sizes}: only the spatial axes (2 and on) can be resized")
        y = R.resize(x, size=tuple(int(s) for s in sizes[2:]), mode=mode, coord=coord, nearest_mode=nearest)
    else:
        y = R.resize(x, scales=tuple(scales[2:]), mode=mode, coord=coord, nearest_mode=nearest)
    return [imp.op("identity", [y], {}, n.output[0])]
