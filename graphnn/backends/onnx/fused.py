"""ONNX export and import of the fused family: the stable losses as standard ONNX (SoftmaxCrossEntropyLoss, a
stable decomposition of sigmoid-BCE); SoftmaxCrossEntropyLoss imports back as softmax_cross_entropy.

Imports graphnn.ir and the onnx room's emitter, import context and loss family (and the onnx package).
"""

from __future__ import annotations

from typing import Any

from ...ir.errors import GraphError
from ...ir.graph import Node
from .emitter import Emitter, lowering_table
from .import_context import Importer, importer_table, inputs
from .loss import LOSS_HEAD, finish, labelled_loss, loss_attrs, soft_target_loss

LOWERINGS = lowering_table("fused")
IMPORTERS = importer_table("fused")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}
TRAINING_ONLY: dict[str, str] = {"softmax_cross_entropy": LOSS_HEAD, "sigmoid_binary_cross_entropy": LOSS_HEAD}


@LOWERINGS.register("softmax_cross_entropy",
                    onnx_ops="SoftmaxCrossEntropyLoss (int labels); LogSoftmax, Mul, ReduceSum, Neg (soft targets)")
def _softmax_cross_entropy(e: Emitter, n: Node, ins: list, outs: list) -> None:
    x, y = n.inputs[0], n.inputs[1]
    ax, red = n.attrs.get("axis", -1) % max(x.ndim, 1), n.attrs.get("reduction", "mean")
    if y.dtype.startswith(("int", "uint")):
        labelled_loss(e, "SoftmaxCrossEntropyLoss", ins[0], x, ins[1], y, ax, red, outs)
    else:
        logp = e.emit("LogSoftmax", [ins[0]], axis=ax)[0]
        soft_target_loss(e, logp, ins[1], x.ndim, ax, red, outs)


@LOWERINGS.register("sigmoid_binary_cross_entropy",
                    onnx_ops="Relu, Mul, Sub, Abs, Neg, Softplus, Add (stable; never Log(Sigmoid))")
def _sigmoid_bce(e: Emitter, n: Node, ins: list, outs: list) -> None:
    # max(x, 0) - x*t + log(1 + exp(-|x|)): exp's argument is <= 0, so nothing overflows for any logit.
    x, t = ins[0], ins[1]
    xv = n.inputs[0]
    lin = e.emit("Sub", [e.emit("Relu", [x])[0], e.emit("Mul", [x, t])[0]])[0]
    tail = e.emit("Softplus", [e.emit("Neg", [e.emit("Abs", [x])[0]])[0]])[0]
    per = e.emit("Add", [lin, tail])[0]
    finish(e, per, xv.ndim, n.attrs.get("reduction", "mean"), outs)


@IMPORTERS.register("SoftmaxCrossEntropyLoss")
def _import_softmax_ce(imp: Importer, n: Any, attrs: dict) -> list:
    ins = inputs(imp, n)
    a = loss_attrs(n, attrs, ins)
    if len([o for o in n.output if o]) > 1:
        raise GraphError(f"SoftmaxCrossEntropyLoss {n.name}: the log_prob output is not supported")
    return [imp.op("softmax_cross_entropy", ins[:2], a, n.output[0])]
