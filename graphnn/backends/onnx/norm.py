"""ONNX export and import of the norm family: batch_norm_infer <-> BatchNormalization (inference mode),
layer_norm <-> LayerNormalization, layer_norm_grad as standard ops; why batch_norm and batch_norm_train are not exported.

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

from typing import Any

from ...ir.errors import GraphError
from ...ir.graph import Node, Value
from ...ir.ops import norm as normops
from .emitter import Emitter, lowering_table
from .import_context import Importer, check_axis, importer_table, inputs

LOWERINGS = lowering_table("norm")
IMPORTERS = importer_table("norm")
UNSUPPORTED: dict[str, str] = {
    "batch_norm": "mode-dependent: the mode pass lowers it before export (eval mode: batch_norm_infer)",
    "batch_norm_train": "batch statistics are training-mode only; an eval-mode export uses batch_norm_infer",
}
NOT_IMPORTED: dict[str, str] = {}
TRAINING_ONLY: dict[str, str] = {
    "batch_norm_train": "batch norm with batch statistics (training mode); eval mode uses the running statistics",
}


def _per_channel(e: Emitter, name: str, v: Value, axis: int, rank: int) -> str:
    shape = [v.shape[0] if i == axis else 1 for i in range(rank)]
    return e.emit("Reshape", [name, e.i64(shape)])[0]


@LOWERINGS.register("batch_norm_infer",
                    onnx_ops="BatchNormalization (axis 1); Sub, Mul, Add on per-channel constants otherwise")
def _batch_norm_infer(e: Emitter, n: Node, ins: list, outs: list) -> None:
    ax, eps, x = n.attrs["axis"], float(n.attrs["eps"]), n.inputs[0]
    if ax == 1:
        e.emit("BatchNormalization", ins, outs, epsilon=eps)
        return
    r = x.ndim
    gamma, beta, mean, var = (_per_channel(e, nm, v, ax, r) for nm, v in zip(ins[1:], n.inputs[1:]))
    inv = e.emit("Div", [gamma, e.emit("Sqrt", [e.emit("Add", [var, e.scalar_like(eps, x, "eps")])[0]])[0]])[0]
    centred = e.emit("Sub", [ins[0], mean])[0]
    e.emit("Add", [e.emit("Mul", [centred, inv])[0], beta], outs)


@LOWERINGS.register("layer_norm", onnx_ops="LayerNormalization", min_opset=17)
def _layer_norm(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("LayerNormalization", ins, outs[:1], axis=int(n.attrs["axis"]), epsilon=float(n.attrs["eps"]))


@LOWERINGS.register("layer_norm_grad", onnx_ops="ReduceMean, ReduceSum, Sub, Mul, Add, Sqrt, Div")
def _layer_norm_grad(e: Emitter, n: Node, ins: list, outs: list) -> None:
    """gx = rstd (g gamma - mean(g gamma) - xhat mean(g gamma xhat)), ggamma = sum over the leading axes of
    g xhat, as standard ops (a training graph's backward exported for inspection or for onnxruntime)."""
    x, ax = n.inputs[0], n.attrs["axis"]
    r, lead = list(range(ax, x.ndim)), list(range(ax))

    def op(kind: str, *a: str) -> str:
        return e.emit(kind, list(a))[0]

    def mean(v: str) -> str:
        return e.reduce("ReduceMean", v, r, True)

    xc = op("Sub", ins[0], mean(ins[0]))
    var = op("Add", mean(op("Mul", xc, xc)), e.scalar_like(float(n.attrs["eps"]), x, "eps"))
    rstd = op("Div", e.scalar_like(1.0, x, "one"), op("Sqrt", var))
    xhat = op("Mul", xc, rstd)
    gxh = op("Mul", ins[2], ins[1])
    inner = op("Sub", op("Sub", gxh, mean(gxh)), op("Mul", xhat, mean(op("Mul", gxh, xhat))))
    e.emit("Mul", [rstd, inner], outs[:1])
    gxhat = op("Mul", ins[2], xhat)
    if lead:
        e.reduce("ReduceSum", gxhat, lead, False, outs[1:2])
    else:
        e.emit("Identity", [gxhat], outs[1:2])


@IMPORTERS.register("BatchNormalization")
def _import_batch_norm(imp: Importer, n: Any, attrs: dict) -> list:
    if attrs.get("training_mode", 0) or len(n.output) > 1 and any(n.output[1:]):
        raise GraphError(f"BatchNormalization {n.name}: only inference mode (running statistics) is supported")
    x, scale, bias, mean, var = inputs(imp, n)
    eps = float(attrs.get("epsilon", 1e-5))
    return [imp.op("batch_norm_infer", [x, scale, bias, mean, var], {"eps": eps, "axis": 1}, n.output[0])]


@IMPORTERS.register("LayerNormalization")
def _import_layer_norm(imp: Importer, n: Any, attrs: dict) -> list:
    ins = inputs(imp, n)
    x = ins[0]
    axis = check_axis(n, int(attrs.get("axis", -1)), x.ndim)
    if len([o for o in n.output if o]) > 1:
        raise GraphError(f"LayerNormalization {n.name}: the Mean and InvStdDev outputs are not supported")
    beta = ins[2] if len(ins) > 2 else imp.op("mul", [ins[1], 0.0])
    return [imp.op("layer_norm", [x, ins[1], beta], {"axis": axis, "eps": float(attrs.get("epsilon", 1e-5))},
                   n.output[0])]


# ---- InstanceNormalization and GroupNormalization import as group_norm (ir/ops/norm.py); export decomposes ----
@IMPORTERS.register("InstanceNormalization")
def _import_instance_norm(imp: Importer, n: Any, attrs: dict) -> list:
    x, scale, bias = (imp.value(i) for i in n.input[:3])
    y = normops.instance_norm(x, scale, bias, float(attrs.get("epsilon", 1e-5)))
    return [imp.op("identity", [y], {}, n.output[0])]


@IMPORTERS.register("GroupNormalization")
def _import_group_norm(imp: Importer, n: Any, attrs: dict) -> list:
    x, scale, bias = (imp.value(i) for i in n.input[:3])
    g = int(attrs["num_groups"])
    if imp.opset < 21 and g != x.shape[1]:  # GroupNormalization-18: scale and bias per group, not per channel
        rep = x.shape[1] // g
        scale, bias = (imp.op("reshape", [imp.op("tile", [imp.op("reshape", [v], {"shape": (g, 1)})],
                                                 {"reps": (1, rep)})], {"shape": (-1,)}) for v in (scale, bias))
    y = normops.group_norm(x, g, scale, bias, float(attrs.get("epsilon", 1e-5)))
    return [imp.op("identity", [y], {}, n.output[0])]
