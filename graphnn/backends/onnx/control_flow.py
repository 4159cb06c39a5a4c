"""ONNX export and import of the control_flow family: cond <-> If, each branch a subgraph reading the outer scope.

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import helper, numpy_helper

from ...ir import subgraph
from ...ir.graph import Graph, Node
from ...ir.ops.control_flow import cond
from .emitter import Emitter, dim_names, lowering_table, onnx_dtype
from .import_context import Importer, importer_table

LOWERINGS = lowering_table("control_flow")
IMPORTERS = importer_table("control_flow")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}


@LOWERINGS.register("cond", onnx_ops="If (each branch lowered into a subgraph that reads the operands from the outer "
                    "scope)")
def _cond(e: Emitter, n: Node, ins: list, outs: list) -> None:
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
    sub = Emitter(br, e.opset, names, dim_names(br), e.lowerings)
    sub.used = e.used  # tensor names stay unique across the whole model
    for v in br.const_values:
        sub.emit("Constant", [], [names[v.id]],
                 value=numpy_helper.from_array(np.asarray(br.constants[v.id]).reshape(v.type.shape)))
    for bn in br.nodes:
        sub.current = bn
        e.lowerings[bn.op].fn(sub, bn, [names[v.id] for v in bn.inputs], [names[v.id] for v in bn.outputs])
    sub.current = n
    outputs = []
    for (key, v), nv in zip(br.outputs.items(), n.outputs):
        oname = sub.emit("Identity", [names[v.id]], [e.fresh(f"{tag}/out_{key}")])[0]
        shape = [d if isinstance(d, int) else e.dims[d] for d in nv.type.shape]
        outputs.append(helper.make_tensor_value_info(oname, onnx_dtype(nv.dtype), shape))
    e.current = saved
    return helper.make_graph(sub.nodes, f"{n.name}_{tag}", [], outputs, initializer=sub.initializers)


@IMPORTERS.register("If")
def _import_if(imp: Importer, n: Any, attrs: dict) -> list:
    def branch(body: Any) -> Callable[[], Any]:
        def fn() -> Any:
            child = imp.branch()
            child.static.update({t.name: numpy_helper.to_array(t) for t in body.initializer})  # branch constants
            child.import_nodes(body.node)
            outs = [child.value(o.name) for o in body.output]
            return tuple(outs) if len(outs) > 1 else outs[0]

        fn.__name__ = body.name or "branch"
        return fn

    res = cond(imp.value(n.input[0]), branch(attrs["then_branch"]), branch(attrs["else_branch"]))
    return list(res) if isinstance(res, tuple) else [res]
