"""ONNX lowerings of the losses: the naive ones as written, the fused ones as stable standard ONNX
(SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss, and a stable decomposition for sigmoid-BCE).

Imports graphnn.ir only (and the onnx package).
"""

from __future__ import annotations

from ...ir.graph import Node, Value
from .emitter import Emitter, Lowering, table_decorator

LOSS_LOWERINGS: dict[str, Lowering] = {}
lowering = table_decorator(LOSS_LOWERINGS)


def finish(e: Emitter, per: str, rank: int, reduction: str, outs: list) -> None:
    """Apply the loss reduction to per-element losses `per` of rank `rank`, writing `outs`."""
    if reduction == "none":
        e.emit("Identity", [per], outs)
    else:
        e.reduce("ReduceMean" if reduction == "mean" else "ReduceSum", per, list(range(rank)), False, outs)


def _class_axis_to_1(e: Emitter, x: str, rank: int, axis: int) -> str:
    """ONNX's loss ops want classes on axis 1 (N, C, d1, ...); labels keep the other axes' order."""
    if axis == 1:
        return x
    others = [i for i in range(rank) if i != axis]
    return e.emit("Transpose", [x], perm=[others[0], axis] + others[1:])[0]


def _labels_i64(e: Emitter, y: Value, name: str) -> str:
    return name if y.dtype in ("int64", "int32") else e.emit("Cast", [name], to=7)[0]  # 7 = INT64


def _labelled_loss(e: Emitter, onnx_op: str, x: str, xv: Value, y: str, yv: Value, axis: int, reduction: str,
                   outs: list) -> None:
    """NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss over `axis`, handling rank-1 (single row) inputs."""
    y = _labels_i64(e, yv, y)
    if xv.ndim == 1:  # one row: give it a batch axis of 1, and drop it again for reduction="none"
        x = e.emit("Unsqueeze", [x, e.i64([0], "axes")])[0]
        y = e.emit("Unsqueeze", [y, e.i64([0], "axes")])[0]
        per = e.emit(onnx_op, [x, y], 1, reduction=reduction)[0]
        e.emit("Squeeze" if reduction == "none" else "Identity",
               [per, e.i64([0], "axes")] if reduction == "none" else [per], outs)
        return
    x = _class_axis_to_1(e, x, xv.ndim, axis)
    e.emit(onnx_op, [x, y], outs[:1], reduction=reduction)


def _soft_target_loss(e: Emitter, logp: str, t: str, rank: int, axis: int, reduction: str, outs: list) -> None:
    prod = e.emit("Mul", [t, logp])[0]
    per = e.emit("Neg", [e.reduce("ReduceSum", prod, [axis], False)])[0]
    finish(e, per, rank - 1, reduction, outs)


@lowering("cross_entropy", "Log + NegativeLogLikelihoodLoss (int labels); Log, Mul, ReduceSum, Neg (soft targets)")
def _cross_entropy(e: Emitter, n: Node, ins: list, outs: list) -> None:
    p, y = n.inputs
    ax, red = n.attrs["axis"], n.attrs["reduction"]
    logp = e.emit("Log", [ins[0]])[0]
    if y.dtype.startswith(("int", "uint")):
        _labelled_loss(e, "NegativeLogLikelihoodLoss", logp, p, ins[1], y, ax, red, outs)
    else:
        _soft_target_loss(e, logp, ins[1], p.ndim, ax, red, outs)


@lowering("softmax_cross_entropy",
          "SoftmaxCrossEntropyLoss (int labels); LogSoftmax, Mul, ReduceSum, Neg (soft targets)")
def _softmax_cross_entropy(e: Emitter, n: Node, ins: list, outs: list) -> None:
    x, y = n.inputs[0], n.inputs[1]
    ax, red = n.attrs.get("axis", -1) % max(x.ndim, 1), n.attrs.get("reduction", "mean")
    if y.dtype.startswith(("int", "uint")):
        _labelled_loss(e, "SoftmaxCrossEntropyLoss", ins[0], x, ins[1], y, ax, red, outs)
    else:
        logp = e.emit("LogSoftmax", [ins[0]], axis=ax)[0]
        _soft_target_loss(e, logp, ins[1], x.ndim, ax, red, outs)


@lowering("sigmoid_binary_cross_entropy", "Relu, Mul, Sub, Abs, Neg, Softplus, Add (stable; never Log(Sigmoid))")
def _sigmoid_bce(e: Emitter, n: Node, ins: list, outs: list) -> None:
    # max(x, 0) - x*t + log(1 + exp(-|x|)): exp's argument is <= 0, so nothing overflows for any logit.
    x, t = ins[0], ins[1]
    xv = n.inputs[0]
    lin = e.emit("Sub", [e.emit("Relu", [x])[0], e.emit("Mul", [x, t])[0]])[0]
    tail = e.emit("Softplus", [e.emit("Neg", [e.emit("Abs", [x])[0]])[0]])[0]
    per = e.emit("Add", [lin, tail])[0]
    finish(e, per, xv.ndim, n.attrs.get("reduction", "mean"), outs)


@lowering("binary_cross_entropy", "Log, Sub, Mul, Add, Neg (as written, on probabilities)")
def _bce(e: Emitter, n: Node, ins: list, outs: list) -> None:
    pv = n.inputs[0]
    p, t = ins
    one = e.scalar_like(1.0, pv, "one")
    a = e.emit("Mul", [t, e.emit("Log", [p])[0]])[0]
    b = e.emit("Mul", [e.emit("Sub", [one, t])[0], e.emit("Log", [e.emit("Sub", [one, p])[0]])[0]])[0]
    per = e.emit("Neg", [e.emit("Add", [a, b])[0]])[0]
    finish(e, per, pv.ndim, n.attrs["reduction"], outs)


@lowering("mse", "Sub, Mul, ReduceMean/ReduceSum")
def _mse(e: Emitter, n: Node, ins: list, outs: list) -> None:
    d = e.emit("Sub", ins)[0]
    finish(e, e.emit("Mul", [d, d])[0], n.inputs[0].ndim, n.attrs["reduction"], outs)


@lowering("mae", "Sub, Abs, ReduceMean/ReduceSum")
def _mae(e: Emitter, n: Node, ins: list, outs: list) -> None:
    finish(e, e.emit("Abs", [e.emit("Sub", ins)[0]])[0], n.inputs[0].ndim, n.attrs["reduction"], outs)


@lowering("kl_div", "Greater, Where, Log, Sub, Mul, ReduceSum (0 log 0 = 0)")
def _kl_div(e: Emitter, n: Node, ins: list, outs: list) -> None:
    pv = n.inputs[0]
    p, q = ins
    pos = e.emit("Greater", [p, e.scalar_like(0.0, pv, "zero")])[0]
    safe_p = e.emit("Where", [pos, p, e.scalar_like(1.0, pv, "one")])[0]
    diff = e.emit("Sub", [e.emit("Log", [safe_p])[0], e.emit("Log", [q])[0]])[0]
    terms = e.emit("Where", [pos, e.emit("Mul", [p, diff])[0], e.scalar_like(0.0, pv, "zero")])[0]
    per = e.reduce("ReduceSum", terms, [pv.ndim - 1], False)
    finish(e, per, pv.ndim - 1, n.attrs["reduction"], outs)
