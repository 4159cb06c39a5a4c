"""ONNX export and import of the shape family: reshape, transpose, concat, slice (Slice/Squeeze/Unsqueeze),
broadcast_to (Expand), tile (Tile); on import also Flatten and Split (as gn.split builds it), and the static
shape arithmetic exporters write (Constant, Shape, Concat of shapes; Gather is in indexing.py). Imports graphnn.ir
(the shape builders too) and the onnx room's emitter and import context (and onnx).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import numpy_helper

from ...ir import builder
from ...ir.errors import GraphError
from ...ir.graph import Node, Value
from ...ir.ops import shape_ops
from ...ir.types import Dim, dim_mul
from .emitter import INT64_MAX, INT64_MIN, Emitter, lowering_table
from .import_context import Importer, axes_arg, check_axes, check_axis, importer_table, inputs
from .shape_folding import constant_of_shape_value, shape_array, slice_params, to_dims

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


@IMPORTERS.register("Shape")
def _import_shape(imp: Importer, n: Any, attrs: dict) -> list:
    # Shapes are known when the graph is built: a symbolic dim travels as a SymDim in an object array, so
    # Shape -> Gather/Slice -> Concat -> Reshape/Expand chains (how exporters spell dynamic shapes) fold.
    shape = list(imp.value(n.input[0]).shape)
    start, end = attrs.get("start", 0), attrs.get("end", None)
    return [shape_array(shape[start:end])]


@IMPORTERS.register("Size")
def _import_size(imp: Importer, n: Any, attrs: dict) -> list:
    return [shape_array([dim_mul(*imp.value(n.input[0]).shape)]).reshape(())]


@IMPORTERS.register("ConstantOfShape")
def _import_constant_of_shape(imp: Importer, n: Any, attrs: dict) -> list:
    # A static shape folds (shape_folding); a symbolic one broadcasts the fill value.
    dims = to_dims(imp.need_const(n.input[0], "the shape"))
    value = constant_of_shape_value(attrs)
    c = builder.constant(value)
    return [imp.op("broadcast_to", [c], {"shape": tuple(dims)}, n.output[0])]


@IMPORTERS.register("Range")
def _import_range(imp: Importer, n: Any, attrs: dict) -> list:
    # A Range of known bounds was folded (shape_folding). `arange(T)` over a symbolic T (positions in a sequence
    # model) is 0, 1, ..., T-1: an exclusive running sum of T ones, scaled and shifted.
    start, limit, delta = (imp.need_const(i, what) for i, what in zip(n.input[:3], ("start", "limit", "delta")))
    if limit.dtype != object or start.dtype == object or delta.dtype == object:
        raise GraphError("Range with a symbolic start or delta: graphnn builds only Range(0, T, 1) over a symbolic T")
    s, d, t = start.reshape(()).item(), delta.reshape(()).item(), to_dims(limit)[0]
    if s != 0 or d != 1:
        raise GraphError(f"Range({s}, {t}, {d}): over a symbolic limit graphnn builds only Range(0, T, 1)")
    ones = imp.op("broadcast_to", [builder.constant(np.ones((), dtype=start.dtype))], {"shape": (t,)})
    return [imp.op("cumsum", [ones], {"axis": 0, "exclusive": True, "reverse": False}, n.output[0])]


def _positions(n: Dim, dtype: str) -> Any:
    """0, 1, ..., n-1 as a graphnn value (an exclusive running sum of n ones), for a static or symbolic n."""
    ones = builder.apply1("broadcast_to", [builder.constant(np.ones((), dtype=dtype))], {"shape": (n,)})
    return builder.apply1("cumsum", [ones], {"axis": 0, "exclusive": True, "reverse": False})


@IMPORTERS.register("Trilu")
def _import_trilu(imp: Importer, n: Any, attrs: dict) -> list:
    # Keep x where column - row >= k (upper) or <= k (lower), zero elsewhere; rows and columns may be symbolic
    # (a causal mask over the sequence length). A static x was folded already (shape_folding).
    x = imp.value(n.input[0])
    if x.ndim < 2:
        raise GraphError(f"Trilu {n.name}: input {x.type} has rank {x.ndim}; it needs a matrix (rank >= 2)")
    k = int(imp.need_const(n.input[1], "k").reshape(()).item()) if len(n.input) > 1 and n.input[1] else 0
    rows, cols = _positions(x.shape[-2], "int64"), _positions(x.shape[-1], "int64")
    offset = builder.apply1("sub", [shape_ops.unsqueeze(cols, 0), shape_ops.unsqueeze(rows, 1)], {})
    keep = builder.apply1("greater_equal" if int(attrs.get("upper", 1)) else "less_equal",
                          [offset, np.asarray(k, dtype=np.int64)], {})
    return [imp.op("where", [keep, x, np.zeros((), dtype=x.dtype)], {}, n.output[0])]


@IMPORTERS.register("Reshape")
def _import_reshape(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    shape = to_dims(imp.need_const(n.input[1], "the target shape")) if len(n.input) > 1 else list(attrs["shape"])
    return [imp.op("reshape", [x], {"shape": _reshape_target(x, shape, bool(attrs.get("allowzero", 0)))},
                   n.output[0])]


@IMPORTERS.register("Flatten")
def _import_flatten(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axis = check_axis(n, int(attrs.get("axis", 1)), x.ndim, end=True)  # ONNX allows [-r, r]
    target = (dim_mul(*x.shape[:axis]), dim_mul(*x.shape[axis:]))
    return [imp.op("reshape", [x], {"shape": target}, n.output[0])]


@IMPORTERS.register("Concat")
def _import_concat(imp: Importer, n: Any, attrs: dict) -> list:
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
    x = imp.value(n.input[0])
    axes = axes_arg(imp, n, attrs, 1)
    if not axes:
        raise GraphError("Unsqueeze needs axes (an attribute before opset 13, a constant input since)")
    rank = x.ndim + len(axes)
    new = set(check_axes(n, axes, rank))
    index = tuple(("new",) if i in new else ("slice", None, None, 1) for i in range(rank))
    return [imp.op("slice", [x], {"index": index}, n.output[0])]


@IMPORTERS.register("Slice")
def _import_slice(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])

    items: list[tuple] = [("slice", None, None, 1)] * x.ndim
    for start, stop, axis, step in slice_params(imp, n, attrs, x.ndim):
        items[axis] = ("slice", start, stop, step)
    return [imp.op("slice", [x], {"index": tuple(items)}, n.output[0])]


@IMPORTERS.register("Expand")
def _import_expand(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    shape = to_dims(imp.need_const(n.input[1], "the target shape"))
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
