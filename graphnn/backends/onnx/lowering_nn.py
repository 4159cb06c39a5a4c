"""ONNX lowerings of the layer ops (convolution, pooling, norms) and control flow (cond -> If), and the reasons
the backward and training-only ops stay unexported.

Imports graphnn.ir only (and the onnx package).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import helper, numpy_helper

from ...ir.graph import Graph, Node, Value
from .emitter import Emitter, Lowering, dim_names, onnx_dtype, table_decorator

NN_LOWERINGS: dict[str, Lowering] = {}
lowering = table_decorator(NN_LOWERINGS)

_BACKWARD = "a backward op: it appears only in training graphs, and an ONNX export is an inference graph"
NN_UNSUPPORTED: dict[str, str] = {
    "conv2d_input_grad": _BACKWARD,
    "conv2d_weight_grad": _BACKWARD,
    "max_pool2d_grad": _BACKWARD,
    "max_pool2d_select": _BACKWARD,
}


def _pads(padding: tuple) -> list[int]:
    ph, pw = padding
    return [ph, pw, ph, pw]  # ONNX: begins of every spatial axis, then ends


@lowering("conv2d", "Conv (NCHW, OIHW, no bias; group 1)")
def _conv2d(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Conv", ins, outs, strides=list(n.attrs["stride"]), pads=_pads(n.attrs["padding"]))


@lowering("max_pool2d", "MaxPool (padding is -inf, floor mode)")
def _max_pool2d(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("MaxPool", ins, outs, kernel_shape=list(n.attrs["kernel_size"]), strides=list(n.attrs["stride"]),
           pads=_pads(n.attrs["padding"]))


NN_UNSUPPORTED.update({
    "unslice": "a backward op (slice's adjoint): it appears only in gradient graphs",
    "batch_norm": "mode-dependent: the mode pass lowers it before export (eval mode: batch_norm_infer)",
    "batch_norm_train": "batch statistics are training-mode only; an eval-mode export uses batch_norm_infer",
    "dropout": "random masks are training-mode only; the eval-mode export pipeline removes dropout",
})


def _per_channel(e: Emitter, name: str, v: Value, axis: int, rank: int) -> str:
    shape = [v.shape[0] if i == axis else 1 for i in range(rank)]
    return e.emit("Reshape", [name, e.i64(shape)])[0]


@lowering("batch_norm_infer", "BatchNormalization (axis 1); Sub, Mul, Add on per-channel constants otherwise")
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


@lowering("layer_norm", "LayerNormalization", 17)
def _layer_norm(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("LayerNormalization", ins, outs[:1], axis=int(n.attrs["axis"]), epsilon=float(n.attrs["eps"]))


@lowering("cond", "If (each branch lowered into a subgraph that reads the operands from the outer scope)")
def _cond(e: Emitter, n: Node, ins: list, outs: list) -> None:
    from ...ir import subgraph

    then_g, else_g = (subgraph.decode(s) for s in n.attrs["subgraph"])
    bodies = [_branch_body(e, n, br, ins[1:], tag) for br, tag in ((then_g, "then"), (else_g, "else"))]
    e.emit("If", [ins[0]], outs, then_branch=bodies[0], else_branch=bodies[1])


def _branch_body(e: Emitter, n: Node, br: Graph, outer: list, tag: str) -> Any:
    """One branch as an ONNX subgraph: no inputs (it reads outer names), its own constants and nodes."""
    names = {bi.id: o for bi, o in zip(br.inputs, outer)}
    saved = e.current
    e.current = n
    for v in br.const_values + [o for bn in br.nodes for o in bn.outputs]:
        names[v.id] = e.fresh(f"{tag}/{v.name}")
    sub = Emitter(br, e.opset, names, dim_names(br))
    sub.used = e.used  # tensor names stay unique across the whole model
    for v in br.const_values:
        sub.emit("Constant", [], [names[v.id]],
                 value=numpy_helper.from_array(np.asarray(br.constants[v.id]).reshape(v.type.shape)))
    for bn in br.nodes:
        sub.current = bn
        LOWERINGS_FOR_BRANCHES[bn.op].fn(sub, bn, [names[v.id] for v in bn.inputs], [names[v.id] for v in bn.outputs])
    sub.current = n
    outputs = []
    for (key, v), nv in zip(br.outputs.items(), n.outputs):
        oname = sub.emit("Identity", [names[v.id]], [e.fresh(f"{tag}/out_{key}")])[0]
        outputs.append(helper.make_tensor_value_info(oname, onnx_dtype(nv.dtype), [d if isinstance(d, int) else e.dims[d] for d in nv.type.shape]))
    e.current = saved
    return helper.make_graph(sub.nodes, f"{n.name}_{tag}", [], outputs, initializer=sub.initializers)


# The full table, set by lowering.py once every row is in (a branch may hold any op).
LOWERINGS_FOR_BRANCHES: dict[str, Lowering] = {}
