"""The ONNX lowering table, keyed by graphnn op name: each row emits standard ONNX ops for one node,
or names why the op cannot be exported. Read backwards, it is also what the importer accepts.

Imports graphnn.ir only (and the onnx package).
"""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from ...ir.ops.reduction import norm_axes
from .emitter import INT64_MAX, INT64_MIN, Emitter, Lowering, onnx_dtype, table_decorator
from .lowering_losses import LOSS_LOWERINGS
from .lowering_nn import LOWERINGS_FOR_BRANCHES, NN_LOWERINGS, NN_UNSUPPORTED

LOWERINGS: dict[str, Lowering] = {}
UNSUPPORTED: dict[str, str] = {
    "grad": "a gradient request; the export pipeline expands it with autodiff, so it never reaches the exporter",
    "all_reduce": "a collective across the ranks of an MPI job (data parallelism); an ONNX model is one process, "
                  "so export the graph without data_parallel=True",
    "fused_elementwise": "made by the runtime's fuse_elementwise pass, which the export pipeline does not run; "
                         "its members are exported one by one",
}


lowering = table_decorator(LOWERINGS)


def _direct(op: str, onnx_op: str, **fixed: object) -> None:
    def f(e: Emitter, n: Node, ins: list, outs: list) -> None:
        e.emit(onnx_op, ins, outs, **fixed)

    LOWERINGS[op] = Lowering(onnx_op, f)


for _op, _onnx in {
    "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max", "minimum": "Min",
    "greater": "Greater", "less": "Less", "greater_equal": "GreaterOrEqual", "less_equal": "LessOrEqual",
    "equal": "Equal", "neg": "Neg", "abs": "Abs", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "relu": "Relu",
    "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "sign": "Sign", "identity": "Identity",
    "stop_gradient": "Identity", "where": "Where", "matmul": "MatMul",
}.items():
    _direct(_op, _onnx)


@lowering("leaky_relu", "LeakyRelu")
def _leaky_relu(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("LeakyRelu", ins, outs, alpha=float(n.attrs["alpha"]))


@lowering("prelu", "PRelu (Where when the slope broadcasts beyond x)")
def _prelu(e: Emitter, n: Node, ins: list, outs: list) -> None:
    if n.outputs[0].type.shape == n.inputs[0].type.shape:  # ONNX PRelu broadcasts the slope one way only
        e.emit("PRelu", ins, outs)
        return
    x = n.inputs[0]
    pos = e.emit("Greater", [ins[0], e.scalar_like(0, x, "zero")])[0]
    e.emit("Where", [pos, ins[0], e.emit("Mul", ins)[0]], outs)


@lowering("cast", "Cast")
def _cast(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Cast", ins, outs, to=onnx_dtype(n.attrs["dtype"]))


# ---- reductions ------------------------------------------------------------------------------
def _reduction(op: str, onnx_op: str) -> None:
    def f(e: Emitter, n: Node, ins: list, outs: list) -> None:
        axes = norm_axes(n.attrs["axes"], n.inputs[0].ndim)
        e.reduce(onnx_op, ins[0], axes, n.attrs["keepdims"], outs)

    LOWERINGS[op] = Lowering(onnx_op, f)


for _op, _onnx in {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin"}.items():
    _reduction(_op, _onnx)


@lowering("argmax", "ArgMax")
def _argmax(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("ArgMax", ins, outs, axis=int(n.attrs["axis"]), keepdims=int(n.attrs["keepdims"]))


# ---- shape ops ----------------------------------------------------------------------------------
@lowering("reshape", "Reshape (runtime dims via Shape+Gather+Concat when symbolic)")
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


@lowering("transpose", "Transpose")
def _transpose(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Transpose", ins, outs, perm=list(n.attrs["perm"]))


@lowering("concat", "Concat")
def _concat(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Concat", ins, outs, axis=int(n.attrs["axis"]))


@lowering("slice", "Slice, Squeeze, Unsqueeze")
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


@lowering("broadcast_to", "Expand")
def _broadcast_to(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Expand", [ins[0], e.shape_tensor(n.outputs[0].type.shape)], outs)


# ---- nn -----------------------------------------------------------------------------------------
@lowering("softmax", "Softmax")
def _softmax(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Softmax", ins, outs, axis=int(n.attrs["axis"]))


@lowering("log_softmax", "LogSoftmax")
def _log_softmax(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("LogSoftmax", ins, outs, axis=int(n.attrs["axis"]))


@lowering("one_hot", "Unsqueeze, Equal (against a constant range), Cast")
def _one_hot(e: Emitter, n: Node, ins: list, outs: list) -> None:
    y = n.inputs[0]
    col = e.emit("Unsqueeze", [ins[0], e.i64([-1], "axes")])[0]
    hit = e.emit("Equal", [col, e.const(np.arange(n.attrs["depth"]), y.dtype, "classes")])[0]
    e.emit("Cast", [hit], outs, to=onnx_dtype(n.attrs["dtype"]))


@lowering("maxout", "Reshape, ReduceMax")
def _maxout(e: Emitter, n: Node, ins: list, outs: list) -> None:
    ax, k = n.attrs["axis"], n.attrs["pieces"]
    s = list(n.inputs[0].type.shape)
    # A constant target shape where possible: 0 copies a leading dim, -1 takes one symbolic trailing dim.
    # (Reshape-13's shape inference ignores a computed shape tensor, so a Concat of Shape pieces would leave the
    # output's rank unknown at opset 13.)
    tail = [d if isinstance(d, int) else -1 for d in s[ax + 1:]]
    if tail.count(-1) <= 1:
        target = e.i64([0] * ax + [s[ax] // k, k] + tail)
    else:
        target = e.shape_tensor(s[:ax] + [s[ax] // k, k] + s[ax + 1:])
    grouped = e.emit("Reshape", [ins[0], target])[0]
    e.reduce("ReduceMax", grouped, [ax + 1], False, outs)


# Losses and the layer ops (conv, pooling, norms, dropout, control flow) keep their rows in sibling tables.
LOWERINGS.update(LOSS_LOWERINGS)
LOWERINGS.update(NN_LOWERINGS)
UNSUPPORTED.update(NN_UNSUPPORTED)
LOWERINGS_FOR_BRANCHES.update(LOWERINGS)
