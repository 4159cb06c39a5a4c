"""ONNX export and import of the shape family: reshape, transpose, concat, slice (Slice/Squeeze/Unsqueeze),
broadcast_to (Expand), tile (Tile); on import also Flatten and Split (as gn.split builds it), and the static
shape arithmetic exporters write (Constant, Shape, Concat of shapes; Gather is in indexing.py). Imports graphnn.ir
(the shape builders too) and the onnx room's emitter and import context (and onnx).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from onnx import numpy_helper

from ...ir.builder import constant
from ...ir.errors import GraphError
from ...ir.graph import Graph, Node, Value
from ...ir.ops import shape_ops
from ...ir.types import Dim
from .emitter import INT64_MAX, INT64_MIN, Emitter, lowering_table
from .import_context import Importer, axes_arg, check_axes, check_axis, importer_table, inputs

LOWERINGS = lowering_table("shape_ops")
IMPORTERS = importer_table("shape_ops")
UNSUPPORTED: dict[str, str] = {
    "unslice": "a backward op (slice's adjoint): it appears only in gradient graphs",
}
NOT_IMPORTED: dict[str, str] = {}


@LOWERINGS.register("reshape", onnx_ops="Reshape (runtime dims via Shape+Gather+Concat when symbolic)")
def _reshape(e: Emitter, n: Node, ins: list, outs: list) -> None:
    src, dst = n.inputs[0].type.shape, n.outputs[0].type.shape
    # A symbolic dim kept in place is copied with 0; at most one other symbolic dim is inferred with -1.
    target: list = [0 if isinstance(d, str) and i < len(src) and src[i] == d else d for i, d in enumerate(dst)]
    if 0 in [d for d in dst if isinstance(d, int)]:
        target = list(dst)  # a literal 0 dim would read as "copy"; compute every dim instead
    others = [i for i, d in enumerate(target) if isinstance(d, str)]
    if len(others) == 1:
        target[others[0]] = -1
    e.emit("Reshape", [ins[0], e.shape_tensor(target)], outs)


@LOWERINGS.register("transpose", onnx_ops="Transpose")
def _transpose(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Transpose", ins, outs, perm=list(n.attrs["perm"]))


@LOWERINGS.register("concat", onnx_ops="Concat")
def _concat(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Concat", ins, outs, axis=int(n.attrs["axis"]))


@LOWERINGS.register("slice", onnx_ops="Slice, Squeeze, Unsqueeze")
def _slice(e: Emitter, n: Node, ins: list, outs: list) -> None:
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis, out_pos = 0, 0
    for item in n.attrs["index"]:
        if item[0] == "new":
            unsqueeze.append(out_pos)
            out_pos += 1
            continue
        if item[0] == "int":
            k = item[1]
            if not (n.inputs[0].type.shape[axis] == 1 and k in (0, -1)):  # a size-1 axis needs no Slice first
                starts.append(k), ends.append(k + 1 if k != -1 else INT64_MAX), axes.append(axis), steps.append(1)
            squeeze.append(axis)
        else:
            start, stop, step = item[1], item[2], item[3]
            if (start, stop, step) != (None, None, 1):
                starts.append(start if start is not None else (0 if step > 0 else INT64_MAX))
                ends.append(stop if stop is not None else (INT64_MAX if step > 0 else INT64_MIN))
                axes.append(axis), steps.append(step)
            out_pos += 1
        axis += 1
    x = ins[0]
    stages = [bool(axes), bool(squeeze), bool(unsqueeze)]
    last = max((i for i, s in enumerate(stages) if s), default=-1)
    if last < 0:
        e.emit("Identity", [x], outs)
        return
    if axes:
        x = e.emit("Slice", [x, e.i64(starts, "starts"), e.i64(ends, "ends"), e.i64(axes, "axes"),
                             e.i64(steps, "steps")], outs if last == 0 else 1)[0]
    if squeeze:
        x = e.emit("Squeeze", [x, e.i64(squeeze, "axes")], outs if last == 1 else 1)[0]
    if unsqueeze:
        e.emit("Unsqueeze", [x, e.i64(unsqueeze, "axes")], outs)


@LOWERINGS.register("broadcast_to", onnx_ops="Expand")
def _broadcast_to(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Expand", [ins[0], e.shape_tensor(n.outputs[0].type.shape)], outs)


@LOWERINGS.register("tile", onnx_ops="Tile (Unsqueeze first when reps add axes)")
def _tile(e: Emitter, n: Node, ins: list, outs: list) -> None:
    x, reps = n.inputs[0], list(n.attrs["reps"])
    src = ins[0]
    if len(reps) > x.ndim:  # ONNX Tile keeps the rank: add the leading axes first
        src = e.emit("Unsqueeze", [src, e.i64(list(range(len(reps) - x.ndim)), "axes")])[0]
    e.emit("Tile", [src, e.i64(reps, "repeats")], outs)


# ---- import ------------------------------------------------------------------------------------------------
@IMPORTERS.register("Constant")
def _import_constant(imp: Importer, n: Any, attrs: dict) -> list:
    if "value" in attrs:
        return [numpy_helper.to_array(attrs["value"])]
    for key, dt in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                    ("value_ints", np.int64)):
        if key in attrs:
            return [np.asarray(attrs[key], dtype=dt)]
    raise GraphError(f"Constant {n.name}: only tensor, float(s) and int(s) values are supported")


def _reshape_target(x: Value, shape: list[int], allowzero: bool) -> tuple[Dim, ...]:
    return tuple(x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(shape))


def _dims(arr: np.ndarray) -> list:
    """A static shape tensor as dims: ints, or symbolic dim names carried by Shape (see `_import_shape`)."""
    return [d if isinstance(d, str) else int(d) for d in np.asarray(arr).reshape(-1).tolist()]


@IMPORTERS.register("Shape")
def _import_shape(imp: Importer, n: Any, attrs: dict) -> list:
    # Shapes are known when the graph is built: a symbolic dim travels as its name in an object array, so
    # Shape -> Gather/Slice -> Concat -> Reshape/Expand chains (how exporters spell dynamic shapes) stay static.
    shape = list(imp.value(n.input[0]).shape)
    start, end = attrs.get("start", 0), attrs.get("end", None)
    dims = shape[start:end]
    return [np.asarray(dims, dtype=np.int64 if all(isinstance(d, int) for d in dims) else object)]


@IMPORTERS.register("Reshape")
def _import_reshape(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    shape = _dims(imp.need_const(n.input[1], "the target shape"))
    return [imp.op("reshape", [x], {"shape": _reshape_target(x, shape, bool(attrs.get("allowzero", 0)))},
                   n.output[0])]


@IMPORTERS.register("Flatten")
def _import_flatten(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axis = check_axis(n, int(attrs.get("axis", 1)), x.ndim, end=True)  # ONNX allows [-r, r]
    head, tail = x.shape[:axis], x.shape[axis:]

    def prod(ds: tuple) -> Dim:
        if all(isinstance(d, int) for d in ds):
            return math.prod(ds)
        if len(ds) == 1:
            return ds[0]
        return -1

    target = (prod(head), prod(tail))
    if target.count(-1) > 1:
        raise GraphError(f"Flatten {n.name}: cannot flatten {x.type} at axis {axis} with symbolic dims on both sides")
    return [imp.op("reshape", [x], {"shape": target}, n.output[0])]


@IMPORTERS.register("Concat")
def _import_concat(imp: Importer, n: Any, attrs: dict) -> list:
    statics = [imp.const(i) for i in n.input]
    if all(s is not None for s in statics) and not any(i in imp.vals for i in n.input):  # shape arithmetic
        axis = check_axis(n, int(attrs["axis"]), np.ndim(statics[0]))
        return [np.concatenate([np.asarray(s) for s in statics], axis=axis)]
    xs = inputs(imp, n)
    return [imp.op("concat", xs, {"axis": check_axis(n, int(attrs["axis"]), xs[0].ndim)}, n.output[0])]


@IMPORTERS.register("Squeeze")
def _import_squeeze(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axes = axes_arg(imp, n, attrs, 1)
    drop = set(check_axes(n, axes, x.ndim)) if axes else {i for i, d in enumerate(x.shape) if d == 1}
    wide = [i for i in sorted(drop) if isinstance(x.shape[i], int) and x.shape[i] != 1]
    if wide:
        raise GraphError(f"Squeeze of axes {wide} of {x.type}: only size-1 axes can be squeezed")
    index = tuple(("int", 0) if i in drop else ("slice", None, None, 1) for i in range(x.ndim))
    return [imp.op("slice", [x], {"index": index}, n.output[0])]


@IMPORTERS.register("Unsqueeze")
def _import_unsqueeze(imp: Importer, n: Any, attrs: dict) -> list:
    axes = axes_arg(imp, n, attrs, 1)
    if not axes:
        raise GraphError("Unsqueeze needs axes (an attribute before opset 13, a constant input since)")
    static = imp.const(n.input[0])
    if static is not None and n.input[0] not in imp.vals and n.input[0] not in imp.initializers:  # shape arithmetic
        return [np.expand_dims(static, tuple(check_axes(n, axes, static.ndim + len(axes))))]
    x = imp.value(n.input[0])
    rank = x.ndim + len(axes)
    new = set(check_axes(n, axes, rank))
    index = tuple(("new",) if i in new else ("slice", None, None, 1) for i in range(rank))
    return [imp.op("slice", [x], {"index": index}, n.output[0])]


@IMPORTERS.register("Slice")
def _import_slice(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])

    def get(i: int, what: str) -> list[int] | None:
        return [int(v) for v in imp.need_const(n.input[i], what)] if len(n.input) > i and n.input[i] else None

    starts, ends = get(1, "starts"), get(2, "ends")
    if starts is None or ends is None:
        raise GraphError("Slice needs starts and ends (attributes before opset 10 are not supported)")
    axes = check_axes(n, get(3, "axes") or list(range(len(starts))), x.ndim)
    steps = get(4, "steps") or [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise GraphError(f"Slice: starts {starts}, ends {ends}, axes {axes}, steps {steps} must have one entry per "
                         "axis and no zero step")
    big = 2**62
    items: list[tuple] = [("slice", None, None, 1)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        start = None if (st > 0 and s <= -big) or (st < 0 and s >= big) else s
        stop = None if (st > 0 and e >= big) or (st < 0 and e <= -big) else e
        items[a] = ("slice", start, stop, st)
    return [imp.op("slice", [x], {"index": tuple(items)}, n.output[0])]


@IMPORTERS.register("Expand")
def _import_expand(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    shape = _dims(imp.need_const(n.input[1], "the target shape"))
    rank = max(len(shape), x.ndim)
    xs = (1,) * (rank - x.ndim) + tuple(x.shape)
    ss = [1] * (rank - len(shape)) + shape
    target = tuple(xd if sd == 1 else sd for xd, sd in zip(xs, ss))  # Expand broadcasts both ways
    return [imp.op("broadcast_to", [x], {"shape": target}, n.output[0])]


@IMPORTERS.register("Transpose")
def _import_transpose(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    perm = tuple(int(p) for p in attrs.get("perm", range(x.ndim - 1, -1, -1)))
    if sorted(perm) != list(range(x.ndim)):
        raise GraphError(f"Transpose perm {list(perm)} is not a permutation of the {x.ndim} axes of {x.type}")
    return [imp.op("transpose", [x], {"perm": perm}, n.output[0])]


@IMPORTERS.register("Split")
def _import_split(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axis = check_axis(n, int(attrs.get("axis", 0)), x.ndim)
    if "split" in attrs:  # before opset 13
        sizes: Any = [int(s) for s in attrs["split"]]
    elif len(n.input) > 1 and n.input[1]:
        sizes = [int(s) for s in imp.need_const(n.input[1], "the split sizes").reshape(-1)]
    elif "num_outputs" in attrs:  # opset 18: the last part may be smaller
        d, k = x.shape[axis], int(attrs["num_outputs"])
        if not isinstance(d, int):
            raise GraphError(f"Split {n.name}: axis {axis} of {x.type} is symbolic; graphnn splits static axes")
        step = -(-d // k)
        sizes = [min(step, d - i * step) for i in range(k)]
    else:
        sizes = len(n.output)
    parts = shape_ops.split(x, sizes, axis)
    if len(parts) != len(n.output):
        raise GraphError(f"Split {n.name}: {len(parts)} parts for {len(n.output)} outputs")
    return [imp.op("identity", [p], {}, o) for p, o in zip(parts, n.output)]


@IMPORTERS.register("Tile")
def _import_tile(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    reps = [int(r) for r in imp.need_const(n.input[1], "the repeats").reshape(-1)]
    if len(reps) != x.ndim:
        raise GraphError(f"Tile {n.name}: {len(reps)} repeats for a rank-{x.ndim} input {x.type}")
    return [imp.op("tile", [x], {"reps": tuple(reps)}, n.output[0])]


@IMPORTERS.register("ConstantOfShape")
def _import_constant_of_shape(imp: Importer, n: Any, attrs: dict) -> list:
    # PyTorch spells an RNN's zero initial state this way, with a shape read from the input (symbolic dims kept).
    dims = _dims(imp.need_const(n.input[0], "the shape"))
    fill = numpy_helper.to_array(attrs["value"]).reshape(-1) if "value" in attrs else np.zeros(1, np.float32)
    if all(isinstance(d, int) for d in dims):
        return [np.full(dims, fill[0], dtype=fill.dtype)]
    c = constant(fill[0], dtype=fill.dtype, graph=Graph.current() or imp.g)
    return [imp.op("broadcast_to", [c], {"shape": tuple(dims)}, n.output[0])]
