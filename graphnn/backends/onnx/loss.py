"""ONNX export and import of the loss family: the naive losses lowered as written (cross_entropy via
NegativeLogLikelihoodLoss), and the reduction/label helpers the fused losses share.

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

from typing import Any

from ...ir.errors import GraphError
from ...ir.graph import Node, Value
from .emitter import Emitter, lowering_table
from .import_context import Importer, importer_table, inputs

LOWERINGS = lowering_table("loss")
IMPORTERS = importer_table("loss")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}
LOSS_HEAD = "a loss head: it needs labels/targets, which a deployed model does not have"
TRAINING_ONLY: dict[str, str] = {op: LOSS_HEAD for op in ("cross_entropy", "binary_cross_entropy", "mse", "mae",
                                                         "kl_div")}


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


def labelled_loss(e: Emitter, onnx_op: str, x: str, xv: Value, y: str, yv: Value, axis: int, reduction: str,
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


def soft_target_loss(e: Emitter, logp: str, t: str, rank: int, axis: int, reduction: str, outs: list) -> None:
    prod = e.emit("Mul", [t, logp])[0]
    per = e.emit("Neg", [e.reduce("ReduceSum", prod, [axis], False)])[0]
    finish(e, per, rank - 1, reduction, outs)


@LOWERINGS.register("cross_entropy",
                    onnx_ops="Log + NegativeLogLikelihoodLoss (int labels); Log, Mul, ReduceSum, Neg (soft targets)")
def _cross_entropy(e: Emitter, n: Node, ins: list, outs: list) -> None:
    p, y = n.inputs
    ax, red = n.attrs["axis"], n.attrs["reduction"]
    logp = e.emit("Log", [ins[0]])[0]
    if y.dtype.startswith(("int", "uint")):
        labelled_loss(e, "NegativeLogLikelihoodLoss", logp, p, ins[1], y, ax, red, outs)
    else:
        soft_target_loss(e, logp, ins[1], p.ndim, ax, red, outs)


@LOWERINGS.register("binary_cross_entropy", onnx_ops="Log, Sub, Mul, Add, Neg (as written, on probabilities)")
def _bce(e: Emitter, n: Node, ins: list, outs: list) -> None:
    pv = n.inputs[0]
    p, t = ins
    one = e.scalar_like(1.0, pv, "one")
    a = e.emit("Mul", [t, e.emit("Log", [p])[0]])[0]
    b = e.emit("Mul", [e.emit("Sub", [one, t])[0], e.emit("Log", [e.emit("Sub", [one, p])[0]])[0]])[0]
    per = e.emit("Neg", [e.emit("Add", [a, b])[0]])[0]
    finish(e, per, pv.ndim, n.attrs["reduction"], outs)


@LOWERINGS.register("mse", onnx_ops="Sub, Mul, ReduceMean/ReduceSum")
def _mse(e: Emitter, n: Node, ins: list, outs: list) -> None:
    d = e.emit("Sub", ins)[0]
    finish(e, e.emit("Mul", [d, d])[0], n.inputs[0].ndim, n.attrs["reduction"], outs)


@LOWERINGS.register("mae", onnx_ops="Sub, Abs, ReduceMean/ReduceSum")
def _mae(e: Emitter, n: Node, ins: list, outs: list) -> None:
    finish(e, e.emit("Abs", [e.emit("Sub", ins)[0]])[0], n.inputs[0].ndim, n.attrs["reduction"], outs)


@LOWERINGS.register("kl_div", onnx_ops="Greater, Where, Log, Sub, Mul, ReduceSum (0 log 0 = 0)")
def _kl_div(e: Emitter, n: Node, ins: list, outs: list) -> None:
    pv = n.inputs[0]
    p, q = ins
    pos = e.emit("Greater", [p, e.scalar_like(0.0, pv, "zero")])[0]
    safe_p = e.emit("Where", [pos, p, e.scalar_like(1.0, pv, "one")])[0]
    diff = e.emit("Sub", [e.emit("Log", [safe_p])[0], e.emit("Log", [q])[0]])[0]
    terms = e.emit("Where", [pos, e.emit("Mul", [p, diff])[0], e.scalar_like(0.0, pv, "zero")])[0]
    per = e.reduce("ReduceSum", terms, [pv.ndim - 1], False)
    finish(e, per, pv.ndim - 1, n.attrs["reduction"], outs)


# ---- import ------------------------------------------------------------------------------------------------
def loss_attrs(n: Any, attrs: dict, ins: list) -> dict:
    """graphnn loss attributes of an ONNX loss node (classes on axis 1); refuses what graphnn cannot express."""
    if len(ins) > 2 or "ignore_index" in attrs:
        raise GraphError(f"{n.op_type} {n.name}: class weights and ignore_index are not supported")
    red = attrs.get("reduction", b"mean")
    return {"reduction": red.decode() if isinstance(red, bytes) else red, "axis": 1}


@IMPORTERS.register("NegativeLogLikelihoodLoss")
def _import_nll(imp: Importer, n: Any, attrs: dict) -> list:
    ins = inputs(imp, n)
    a = loss_attrs(n, attrs, ins)
    logp, y = ins[0], ins[1]
    src = logp.producer
    # NLL of log(p) is graphnn's cross_entropy of p; otherwise exp() turns log-probabilities back into p.
    p = src.inputs[0] if src is not None and src.op == "log" else imp.op("exp", [logp])
    return [imp.op("cross_entropy", [p, y], a, n.output[0])]
