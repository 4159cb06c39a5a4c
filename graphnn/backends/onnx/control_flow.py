"""ONNX export and import of the control_flow family: cond <-> If, scan <-> Scan, each branch or body a subgraph
reading the outer scope.

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import helper, numpy_helper

from ...ir import subgraph
from ...ir.errors import GraphError
from ...ir.graph import Graph, Node
from ...ir.ops import shape_ops
from ...ir.ops.control_flow import cond, scan_values
from .emitter import Emitter, dim_names, lowering_table, onnx_dtype
from .import_context import Importer, importer_table
from .rnn_export import lower_recurrent
from .rnn_import import import_recurrent

LOWERINGS = lowering_table("control_flow")
IMPORTERS = importer_table("control_flow")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}

# ONNX's recurrent ops become scans over their cell (rnn_import.py)
IMPORTERS.register("LSTM", "GRU", "RNN")(import_recurrent)


@LOWERINGS.register("cond", onnx_ops="If (each branch lowered into a subgraph that reads the operands from the outer "
                    "scope)")
def _cond(e: Emitter, n: Node, ins: list, outs: list) -> None:
    then_g, else_g = (subgraph.decode(s) for s in n.attrs["subgraph"])
    bodies = [_branch_body(e, n, br, ins[1:], tag) for br, tag in ((then_g, "then"), (else_g, "else"))]
    e.emit("If", [ins[0]], outs, then_branch=bodies[0], else_branch=bodies[1])


def _emit_body(e: Emitter, n: Node, g: Graph, names: dict, tag: str) -> Emitter:
    """A subgraph's constants and nodes lowered by a child emitter (`names` holds its inputs' ONNX names already;
    the rest get fresh ones under `tag`); its node list is the subgraph body of `n`'s If or Scan."""
    for v in g.const_values + [o for bn in g.nodes for o in bn.outputs]:
        names[v.id] = e.fresh(f"{tag}/{v.name}")
    sub = Emitter(g, e.opset, names, dim_names(g), e.lowerings)
    sub.used = e.used  # tensor names stay unique across the whole model
    for v in g.const_values:
        sub.emit("Constant", [], [names[v.id]],
                 value=numpy_helper.from_array(np.asarray(g.constants[v.id]).reshape(v.type.shape)))
    for bn in g.nodes:
        sub.current = bn
        e.lowerings[bn.op].fn(sub, bn, [names[v.id] for v in bn.inputs], [names[v.id] for v in bn.outputs])
    sub.current = n
    return sub


def _branch_body(e: Emitter, n: Node, br: Graph, outer: list, tag: str) -> Any:
    """One branch as an ONNX subgraph: no inputs (it reads outer names), its own constants and nodes."""
    names = {bi.id: o for bi, o in zip(br.inputs, outer)}
    saved = e.current
    e.current = n
    sub = _emit_body(e, n, br, names, tag)
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


# A gn.nn.LSTM/GRU/RNN layer's scan becomes ONNX's LSTM/GRU/RNN op instead (rnn_export.py).
@LOWERINGS.register("scan", onnx_ops="Scan (the body a subgraph: carries and one step of each xs in, new carries, "
                    "y_t and the carry the step started from out; captures read from the outer scope)", min_opset=9)
def _scan(e: Emitter, n: Node, ins: list, outs: list) -> None:
    if lower_recurrent(e, n, ins, outs):  # a gn.nn.LSTM/GRU/RNN layer's scan: ONNX's LSTM/GRU/RNN op
        return
    body = subgraph.decode(n.attrs["body"])
    nc, nx = n.attrs["n_carry"], n.attrs["n_xs"]
    names = {bi.id: o for bi, o in zip(body.inputs[nc + nx:], ins[nc + nx:])}  # captures: outer names
    saved = e.current
    e.current = n
    formal = []
    for bi in body.inputs[:nc + nx]:
        names[bi.id] = e.fresh(f"body/{bi.name}")
        formal.append(helper.make_tensor_value_info(names[bi.id], onnx_dtype(bi.dtype),
                                                    [d if isinstance(d, int) else None for d in bi.type.shape]))
    sub = _emit_body(e, n, body, names, "body")
    results = list(body.outputs.values()) + list(body.inputs[:nc])  # new carries, y_t, the carry started from
    outputs = []
    for k, v in enumerate(results):
        oname = sub.emit("Identity", [names[v.id]], [e.fresh(f"body/out{k}")])[0]
        outputs.append(helper.make_tensor_value_info(oname, onnx_dtype(v.dtype),
                                                     [d if isinstance(d, int) else None for d in v.type.shape]))
    e.current = saved
    graph = helper.make_graph(sub.nodes, f"{n.name}_body", formal, outputs, initializer=sub.initializers)
    direction = int(bool(n.attrs["reverse"]))
    e.emit("Scan", ins[:nc + nx], outs, body=graph, num_scan_inputs=nx, scan_input_directions=[direction] * nx,
           scan_output_directions=[direction] * (len(outs) - nc))


@IMPORTERS.register("Scan")
def _import_scan(imp: Importer, n: Any, attrs: dict) -> list:
    body, nx = attrs["body"], int(attrs["num_scan_inputs"])
    if imp.opset < 9:
        return _import_scan8(imp, n, attrs)
    nc = len(n.input) - nx
    n_out = len(body.output) - nc
    dirs_in = list(attrs.get("scan_input_directions", [0] * nx))
    dirs_out = list(attrs.get("scan_output_directions", [0] * n_out))
    for key in ("scan_input_axes", "scan_output_axes"):
        if any(int(a) != 0 for a in attrs.get(key, [])):
            raise GraphError(f"Scan with {key} other than 0 is not imported (graphnn scans the leading axis)")
    if len(set(dirs_in + dirs_out)) > 1:
        raise GraphError(f"Scan with mixed directions (inputs {dirs_in}, outputs {dirs_out}) is not imported")
    reverse = bool((dirs_in + dirs_out + [0])[0])
    return _scan_onnx_body(imp, body, [imp.value(x) for x in n.input[:nc]], [imp.value(x) for x in n.input[nc:]],
                           reverse)


def _scan_onnx_body(imp: Importer, body: Any, init: list, xs: list, reverse: bool) -> list:
    """gn.scan over an ONNX Scan body (its inputs: carries, then one step of each xs); the ONNX outputs."""
    nc = len(init)
    local = {i.name for i in body.input} | {t.name for t in body.initializer} | {o for nd in body.node for o in nd.output}
    for nd in body.node:  # outer initializers the body reads become parameters of the outer graph, then captures
        for name in nd.input:
            if name and name not in local and name in imp.initializers:
                imp.value(name)

    def step(carry: tuple, x: tuple) -> tuple:
        child = imp.branch()
        child.static.update({t.name: numpy_helper.to_array(t) for t in body.initializer})
        for bi, v in zip(body.input, (*carry, *x)):
            child.vals[bi.name] = v
            child.static.pop(bi.name, None)
        child.import_nodes(body.node)
        res = [child.value(o.name) for o in body.output]
        return tuple(res[:nc]), tuple(res[nc:])

    step.__name__ = body.name or "scan_body"
    return scan_values(step, init, xs, reverse, "scan_body")[:len(body.output)]


def _import_scan8(imp: Importer, n: Any, attrs: dict) -> list:
    """Scan-8: a leading batch axis on carries and xs (time is axis 1); each batch row is its own scan."""
    body, nx = attrs["body"], int(attrs["num_scan_inputs"])
    if n.input[0]:
        raise GraphError("Scan-8 with sequence_lens is not imported (every row must run the full length)")
    names = list(n.input[1:])
    nc = len(names) - nx
    if any(int(d) for d in attrs.get("directions", [])):
        raise GraphError("Scan-8 in the reverse direction is not imported")
    init, xs = [imp.value(x) for x in names[:nc]], [imp.value(x) for x in names[nc:]]
    batch = (init + xs)[0].shape[0]
    if not isinstance(batch, int):
        raise GraphError(f"Scan-8 needs a static batch size, got {batch!r}")
    rows = [_scan_onnx_body(imp, body, [c[b] for c in init], [x[b] for x in xs], False) for b in range(batch)]
    return [shape_ops.stack([r[k] for r in rows], axis=0) for k in range(len(body.output))]
