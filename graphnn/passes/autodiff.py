"""Reverse-mode autodiff as a pass: `gn.grad` records a `grad` node; `expand_gradients` replaces each one
with backward nodes (tagged `backward`, provenance pointing at the forward node they differentiate).

Imports only graphnn.ir.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..ir.builder import apply, user_location
from ..ir.errors import GraphError
from ..ir.graph import Graph, Node, Provenance, Value
from ..ir.gradutil import ones_like, zeros_like
from ..ir.op_registry import get_op

DISCONNECTED = ("raise", "zeros", "ignore")


def _blocks(node: Node) -> bool:
    op = get_op(node.op)
    return node.op == "stop_gradient" or (op.nondiff is not None and node.op != "grad")


def differentiable_path(g: Graph, y: Value, xs: Sequence[Value]) -> tuple[list[Node], set[int]]:
    """Nodes on a differentiable path from any of `xs` to `y`, in order, and the ids of xs reached."""
    reach: set[int] = {x.id for x in xs if x.type.is_float}
    fwd: list[Node] = []
    for n in g.nodes:
        if any(v.id in reach for v in n.inputs) and not _blocks(n):
            fwd.append(n)
            reach.update(o.id for o in n.outputs if o.type.is_float)
    needed: set[int] = {y.id}
    path: list[Node] = []
    for n in reversed(fwd):
        if any(o.id in needed for o in n.outputs):
            path.append(n)
            needed.update(v.id for v in n.inputs)
    path.reverse()
    return path, {x.id for x in xs if x.id in needed or x is y}


def _check_request(y: Value, wrt: Sequence[Value]) -> None:
    if y.ndim != 0:
        raise GraphError(f"gn.grad: {y.name} has type {y.type}; gradients are taken of scalars (reduce it first) "
                         f"at {user_location()}")
    if not y.type.is_float:
        raise GraphError(f"gn.grad: {y.name} is {y.dtype}, not differentiable at {user_location()}")
    for x in wrt:
        if not isinstance(x, Value):
            raise GraphError(f"gn.grad: wrt must be graph values, got {x!r}")
        if not x.type.is_float:
            why = f"it is {x.dtype}"
            if x.producer is not None and get_op(x.producer.op).nondiff:
                why += f" (output of {x.producer.op}: {get_op(x.producer.op).nondiff})"
            raise GraphError(f"gn.grad: cannot differentiate with respect to {x.name}: {why}; at {user_location()}")


def grad(y: Value, wrt: Value | Sequence[Value], *, disconnected: str = "raise", expand: bool = False) -> Any:
    """Symbolic gradient of scalar `y` with respect to `wrt` (a value or a list); expanded by gn.compile.

    A `wrt` that `y` does not depend on (through differentiable ops) is a GraphError unless
    disconnected="zeros" (zeros returned) or "ignore" (None returned).
    """
    single = isinstance(wrt, Value)
    xs = [wrt] if single else list(wrt)
    if disconnected not in DISCONNECTED:
        raise GraphError(f"disconnected must be one of {DISCONNECTED}, got {disconnected!r}")
    _check_request(y, xs)
    _, reached = differentiable_path(y.graph, y, xs)
    lost = [x for x in xs if x.id not in reached]
    if lost and disconnected == "raise":
        raise GraphError(
            f"gn.grad at {user_location()}: {y.name} does not depend on {', '.join(x.name for x in lost)} through "
            "differentiable ops (a stop_gradient, an integer path or an unused value); "
            "pass disconnected='zeros' or 'ignore' if that is intended"
        )
    live = [x for x in xs if x.id in reached]
    results: dict[int, Value | None] = {}
    if live:
        outs = apply("grad", [y, *live])
        results.update({x.id: o for x, o in zip(live, outs)})
        if expand:
            expand_gradients(y.graph, only=outs[0].producer)
            results = {x.id: y.graph.meta["_last_grad_map"][o.id] for x, o in zip(live, outs)}
    with y.graph.building():
        for x in lost:
            results[x.id] = zeros_like(x) if disconnected == "zeros" else None
    res = [results[x.id] for x in xs]
    return res[0] if single else res


def _backprop(g: Graph, y: Value, xs: Sequence[Value]) -> list[Value]:
    path, _ = differentiable_path(g, y, xs)
    with g.building(frozenset({"backward"}), Provenance(y.producer.prov.locations if y.producer else frozenset(),
                                                       passes=("autodiff",))):
        grads: dict[int, Value] = {y.id: ones_like(y)}
    for n in reversed(path):
        gouts = [grads.get(o.id) for o in n.outputs]
        if all(v is None for v in gouts):
            continue
        op = get_op(n.op)
        if op.grad is None:
            raise GraphError(f"op {n.op} (node {n.name} at {n.location}) has no gradient rule")
        prov = Provenance(n.prov.locations, n.prov.labels, frozenset({n.id}), ("autodiff",))
        with g.building(frozenset({"backward"}), prov):
            gins = op.grad(n, gouts)
            for v, gi in zip(n.inputs, gins):
                if gi is None or not v.type.is_float:
                    continue
                if gi.type != v.type:
                    raise GraphError(f"gradient rule of {n.op} returned {gi.type} for input {v.name}: {v.type}")
                grads[v.id] = gi if v.id not in grads else grads[v.id] + gi
    out = []
    for x in xs:
        if x.id in grads:
            out.append(grads[x.id])
        else:
            with g.building(frozenset({"backward"})):
                out.append(zeros_like(x))
    return out


def replace_uses(g: Graph, mapping: dict[int, Value]) -> None:
    """Point every use (node inputs, outputs, updates) of value ids in `mapping` at the new values."""
    for n in g.nodes:
        if any(v.id in mapping for v in n.inputs):
            n.inputs = tuple(mapping.get(v.id, v) for v in n.inputs)
    g.outputs = {k: mapping.get(v.id, v) for k, v in g.outputs.items()}
    g.updates = {k: mapping.get(v.id, v) for k, v in g.updates.items()}


def expand_gradients(g: Graph, only: Node | None = None) -> Graph:
    """Replace `grad` request nodes (inner ones first) by backward nodes spliced in at their position."""
    grad_map: dict[int, Value] = {}
    while True:
        req = next((n for n in g.nodes if n.op == "grad" and (only is None or n is only)), None)
        if req is None:
            break
        idx = g.nodes.index(req)
        before = len(g.nodes)
        y, xs = req.inputs[0], req.inputs[1:]
        gvals = _backprop(g, y, xs)
        new_nodes = g.nodes[before:]
        del g.nodes[before:]
        g.nodes[idx:idx + 1] = new_nodes
        for o in req.outputs:
            g.producer.pop(o.id, None)
        mapping = {o.id: gv for o, gv in zip(req.outputs, gvals)}
        replace_uses(g, mapping)
        grad_map.update(mapping)
        if only is not None:
            break
    g.meta["_last_grad_map"] = grad_map
    return g
