"""Gradient-flow status of every parameter and edge with respect to a loss: receives gradient, gated by a
masking op, structurally zero (integer path, argmax, stop_gradient), disconnected, or frozen.
"""

from __future__ import annotations

from typing import Any

from ..ir.graph import Graph, Node, Value
from ..ir.op_registry import get_op, registry

# Ops whose gradient passes only where a mask/selection lets it (zero elsewhere): a parameter reached only
# through them can go dead (dying ReLU), so the overlay marks it "gated".
GATES = frozenset(name for name, op in registry().items() if op.gates)
STATUSES = ("grad", "gated", "zero", "disconnected", "frozen")


def _blocks(n: Node) -> bool:
    # A fused elementwise chain is marked nondiff only because it is made after autodiff; its members are
    # ordinary differentiable ops, so gradient flows through it like through them.
    if n.op == "fused_elementwise":
        return False
    return n.op == "stop_gradient" or (get_op(n.op).nondiff is not None and n.op != "grad")


def _gates(n: Node) -> bool:
    if n.op == "fused_elementwise":
        return any(step[0] in GATES for step in n.attrs["body"])
    return n.op in GATES


def find_loss(g: Graph, loss: Value | None = None) -> Value | None:
    """The loss: given, else the target of a gn.grad request, else an output named "loss", else the first
    scalar float output."""
    if loss is not None:
        return loss
    for n in g.nodes:
        if n.op == "grad":
            return n.inputs[0]
    if "loss" in g.outputs:
        return g.outputs["loss"]
    for v in g.outputs.values():
        if v.ndim == 0 and v.type.is_float:
            return v
    return None


def gradient_flow(g: Graph, loss: Value | None = None) -> dict[str, Any]:
    """{"loss": name, "params": {name: status}, "edges": {(value id, node id): status}} (statuses: STATUSES)."""
    y = find_loss(g, loss)
    params: dict[str, str] = {}
    edges: dict[tuple[int, int], str] = {}
    if y is None:
        for p in g.params + g.state:
            params[p.name] = "frozen" if p.kind == "state" or not _trainable(g, p) else "disconnected"
        return {"loss": None, "params": params, "edges": edges}
    anc, diff, ungated = {y.id}, {y.id}, {y.id}
    for n in reversed(g.nodes):
        if "backward" in n.tags:
            continue
        outs = {o.id for o in n.outputs}
        if not outs & anc:
            continue
        anc.update(v.id for v in n.inputs)
        if outs & diff and not _blocks(n):
            for v in n.inputs:
                if v.type.is_float:
                    diff.add(v.id)
                    if outs & ungated and not _gates(n):
                        ungated.add(v.id)
    for n in g.nodes:
        outs = {o.id for o in n.outputs}
        for v in n.inputs:
            if outs & diff and not _blocks(n) and v.type.is_float:
                st = "grad" if (outs & ungated and not _gates(n)) else "gated"
            elif outs & anc:
                st = "zero"
            else:
                continue
            if v.kind in ("param", "state") and (v.kind == "state" or not _trainable(g, v)):
                st = "frozen"
            edges[(v.id, n.id)] = st
    for p in g.params + g.state:
        if p.kind == "state" or not _trainable(g, p):
            params[p.name] = "frozen"
        elif p.id in ungated:
            params[p.name] = "grad"
        elif p.id in diff:
            params[p.name] = "gated"
        elif p.id in anc:
            params[p.name] = "zero"
        else:
            params[p.name] = "disconnected"
    return {"loss": y.name, "params": params, "edges": edges}


def _trainable(g: Graph, p: Value) -> bool:
    info = g.param_info.get(p.name)
    return info is None or info.trainable
