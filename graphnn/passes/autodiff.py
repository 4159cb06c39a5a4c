"""Reverse-mode autodiff as a pass: `gn.grad` records a `grad` node; `expand_gradients` replaces each one
with backward nodes (tagged `backward`, provenance pointing at the forward node they differentiate).

Imports only graphnn.ir.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..ir.builder import apply, user_location
from ..ir.errors import GraphError
from ..ir.gradutil import add_grads, ones_like, zeros_like
from ..ir.graph import Graph, Node, Provenance, Value, next_id
from ..ir.op_registry import get_op
from .scan_merging import merge_scans

DISCONNECTED = ("raise", "zeros", "ignore")


def _blocks(node: Node) -> bool:
    """A node gradients do not flow through: non-differentiable ops (stop_gradient is one)."""
    return node.op != "grad" and get_op(node.op).nondiff is not None


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


def _why_disconnected(g: Graph, y: Value, x: Value) -> str:
    """Name what cuts x off from y: a non-differentiable node or an integer value on the way, or no path."""
    seen = {x.id}
    on_way: list[Node] = []
    for n in g.nodes:
        if any(v.id in seen for v in n.inputs):
            on_way.append(n)
            seen.update(o.id for o in n.outputs)
    if y.id not in seen:
        return "it does not use it at all"
    cuts = [f"{n.op} ({n.name} at {n.location}: {get_op(n.op).nondiff})" for n in on_way if _blocks(n)]
    cuts += [f"{n.op} ({n.name} at {n.location}) whose output is {n.outputs[0].dtype}" for n in on_way
             if not _blocks(n) and not all(o.type.is_float for o in n.outputs)]
    return "the path goes through " + "; ".join(cuts[:3]) if cuts else "no differentiable path"


def _check_request(y: Value, wrt: Sequence[Value]) -> None:
    if not isinstance(y, Value):
        raise GraphError(f"gn.grad: y must be a graph value, got {y!r} at {user_location()}")
    if y.ndim != 0:
        raise GraphError(f"gn.grad: {y.name} has type {y.type}; gradients are taken of scalars (reduce it first) "
                         f"at {user_location()}")
    if not y.type.is_float:
        raise GraphError(f"gn.grad: {y.name} is {y.dtype}, not differentiable at {user_location()}")
    for x in wrt:
        if not isinstance(x, Value):
            raise GraphError(f"gn.grad: wrt must be graph values, got {x!r} at {user_location()}")
        if x.graph is not y.graph:
            raise GraphError(f"gn.grad: {x.name} belongs to graph {x.graph.name!r}, {y.name} to {y.graph.name!r}")
        if not x.type.is_float:
            why = f"it is {x.dtype}"
            if x.producer is not None and get_op(x.producer.op).nondiff:
                why += f" (output of {x.producer.op}: {get_op(x.producer.op).nondiff})"
            raise GraphError(f"gn.grad: cannot differentiate with respect to {x.name}: {why}; at {user_location()}")


def grad(y: Value, wrt: Value | Sequence[Value], *, disconnected: str = "raise", expand: bool = False) -> Any:
    """Symbolic gradient of scalar `y` with respect to `wrt` (a value or a list); expanded by gn.compile.

    A `wrt` that `y` does not depend on (through differentiable ops) is a GraphError unless
    disconnected="zeros" (zeros returned) or "ignore" (None returned). expand=True splices the backward
    nodes in now (and every earlier pending request), so `print(g)` shows them.
    """
    single = isinstance(wrt, Value)
    xs = [wrt] if single else list(wrt)
    if disconnected not in DISCONNECTED:
        raise GraphError(f"disconnected must be one of {DISCONNECTED}, got {disconnected!r}")
    _check_request(y, xs)
    _, reached = differentiable_path(y.graph, y, xs)
    lost = [x for x in xs if x.id not in reached]
    if lost and disconnected == "raise":
        why = "; ".join(f"{x.name}: {_why_disconnected(y.graph, y, x)}" for x in lost)
        raise GraphError(
            f"gn.grad at {user_location()}: {y.name} does not depend on {', '.join(x.name for x in lost)} through "
            f"differentiable ops ({why}); pass disconnected='zeros' or 'ignore' if that is intended"
        )
    live = [x for x in xs if x.id in reached]
    results: dict[int, Value | None] = {}
    if live:
        outs = apply("grad", [y, *live])
        results.update({x.id: o for x, o in zip(live, outs)})
        if expand:
            expanded = _expand(y.graph, upto=outs[0].producer)
            results.update({x.id: expanded[o.id] for x, o in zip(live, outs)})
    with y.graph.building():
        for x in lost:
            results[x.id] = zeros_like(x) if disconnected == "zeros" else None
    res = [results[x.id] for x in xs]
    return res[0] if single else res


def _backprop(g: Graph, y: Value, xs: Sequence[Value]) -> list[Value]:
    """Append the backward nodes of d y / d xs to g (reverse walk over the path, summing fan-out)."""
    path, _ = differentiable_path(g, y, xs)
    seed_prov = Provenance(y.producer.prov.locations if y.producer else frozenset(), passes=("autodiff",))
    with g.building(frozenset({"backward"}), seed_prov):
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
            if len(gins) != len(n.inputs):
                raise GraphError(f"gradient rule of {n.op} returned {len(gins)} gradients for {len(n.inputs)} inputs")
            for v, gi in zip(n.inputs, gins):
                if gi is None or not v.type.is_float:
                    continue
                if gi.type != v.type:
                    raise GraphError(f"gradient rule of {n.op} returned {gi.type} for input {v.name}: {v.type}")
                # A value used several times gets the sum of its uses' gradients.
                grads[v.id] = gi if v.id not in grads else add_grads(grads[v.id], gi)
    out = []
    for x in xs:
        if x.id in grads:
            out.append(grads[x.id])
        else:
            with g.building(frozenset({"backward"}), seed_prov):
                out.append(zeros_like(x))
    return out


def _prune(g: Graph, first: int, n_consts: int, keep: Sequence[Value]) -> None:
    """Drop nodes (and constants) appended since `first` that the gradients do not use (rules emit the
    gradients of every input, e.g. of a constant exponent; only those on the path are kept)."""
    g.prune_constants(g.drop_unneeded({v.id for v in keep}, first), n_consts)


def _expand(g: Graph, upto: Node | None = None) -> dict[int, Value]:
    """Expand pending requests in graph order (so inner ones come first), stopping after `upto`.

    Each request node is replaced, at its position, by its backward nodes followed by one `identity`
    per gradient that produces the request's own output value: every handle a user holds (and every
    later use) stays valid, and a later simplification may fold the identities away.
    Returns request output id -> the gradient value computed for it.
    """
    got: dict[int, Value] = {}
    while True:
        req = next((n for n in g.nodes if n.op == "grad"), None)
        if req is None:
            break
        idx = g.nodes.index(req)
        before, n_consts = len(g.nodes), len(g.const_values)
        y, xs = req.inputs[0], req.inputs[1:]
        gvals = _backprop(g, y, xs)
        _prune(g, before, n_consts, gvals)
        tail = [Node(next_id(), "identity", g.unique_name(f"{req.name}/d_{x.name}"), (gv,), (o,), {},
                     Provenance(req.prov.locations, req.prov.labels, frozenset({req.id}), ("autodiff",)),
                     frozenset({"backward"}) | req.tags, req.scope)
                for x, gv, o in zip(xs, gvals, req.outputs)]
        for t in tail:
            g.producer[t.outputs[0].id] = t
        new_nodes = g.nodes[before:]
        del g.nodes[before:]
        g.nodes[idx:idx + 1] = new_nodes + tail
        got.update({o.id: gv for o, gv in zip(req.outputs, gvals)})
        if req is upto:
            break
    return got


def expand_gradients(g: Graph) -> Graph:
    """The autodiff pass: replace every `grad` request node (inner ones first) by backward nodes. Per request:
    one forward and one backward walk over the path and one pruning walk, O(n + E); O(r (n + E)) for r requests.
    A forward scan is then replaced by the copy its gradient extended with residuals (scan_merging.py)."""
    _expand(g)
    return merge_scans(g)
