"""Fuse a parameter's SGD step into its weight-gradient product. The update `p - s * (a @ b)` (also `p + s * (a @ b)`,
`p - (a @ b) * s`, `p - a @ b`, and gn.optim's guarded `where(ok, p - s (a @ b), p)`) becomes
`gemm_update(p, a, b, s, scale=-1)`, which the NumPy backend runs as one BLAS gemm with beta = 1 writing into p: the
gradient dW is never stored nor read back, and the scale and subtract passes over it disappear (the MLP's 784x512
weight: 1.04 ms product + 0.06 ms update -> 1.01 ms).

Only for weights of 2^16 elements or more (MIN_ELEMENTS: below, the C call costs more than the passes it saves).
Safe by construction: it fires only on the new value of a parameter or state whose product (and scaling) nobody
else reads, on matrices of the parameter's own type, with a scalar s, and never when the product reads the
parameter itself. Ordering is the planner's: updates run after the last read of the old value (hoist_updates),
and the parameter is overwritten in place only when nothing reads it afterwards (executor.place_updates).

Imports only graphnn.ir and the rewrite engine.
"""

from __future__ import annotations

import math

from ..ir.graph import Graph, Node, Value
from ..ir.op_registry import registry
from ..ir.ops.linalg import gemm_update
from .pattern import Match, Rule, rewrite, rule

# Parameters smaller than this keep the unfused step. What the fusion saves grows with the weight (two passes over
# it: 0.10 ms for the MLP's 784x512 and 512x512 weights together); what it costs is one C call through ctypes,
# 1-7 us (7 when an operand is a fresh view each call, as the input's transpose in the first layer's gradient).
# For the 64x32 weight of the small MLP that cost won: its 36 us step took 45 us.
MIN_ELEMENTS = 1 << 16


def _root(v: Value) -> Value:
    """The value `v` is a view of (through transposes and reshapes), or `v`."""
    ops = registry()
    while v.producer is not None and ops[v.producer.op].view:
        v = v.producer.inputs[0]
    return v


def _only_reader(m: Match, v: Value, node: Node) -> bool:
    return [n.id for n in m.users(v)] == [node.id] and v.id not in m.g.sink_ids()


def _product(m: Match, v: Value, reader: Node) -> Node | None:
    """The 2-D matmul producing `v`, read by `reader` alone."""
    mm = v.producer
    if mm is None or mm.op != "matmul" or not _only_reader(m, v, reader):
        return None
    return mm if all(x.ndim == 2 for x in mm.inputs) else None


def _fuse(m: Match, p: Value, term: Value, sign: float, root: Node | None = None, ok: Value | None = None
          ) -> Value | None:
    """gemm_update for `p + sign * term` when term is s * (a @ b), (a @ b) * s or a @ b; else None. `root`: the
    node whose output is the update (the guard's where, else the matched node itself)."""
    out = m.out
    root = root or m.node
    update = m.g.updates.get(p.name)
    if p.kind not in ("param", "state") or update is None or update.id != root.outputs[0].id or p.type != out.type:
        return None
    if term.type != out.type or not out.dtype.startswith("float") or math.prod(p.shape) < MIN_ELEMENTS:
        return None
    scale: Value | float = 1.0
    mm = _product(m, term, m.node)
    if mm is None:
        mul = term.producer
        if mul is None or mul.op != "mul" or not _only_reader(m, term, m.node):
            return None
        for x, s in (mul.inputs, mul.inputs[::-1]):
            mm = _product(m, x, mul)
            if mm is not None and s.type.shape == () and s.dtype == out.dtype:
                scale = s
                break
            if mm is not None and (c := m.scalar(s)) is not None:
                scale = c
                break
        else:
            return None
        m.producer(term)
    m.producer(mm.outputs[0])
    a, b = mm.inputs
    if _root(a).id == p.id or _root(b).id == p.id:
        return None  # the product reads the parameter it would overwrite
    return gemm_update(p, a, b, scale, sign, ok)


@rule("p - s (a @ b) -> gemm_update", "sub")
def _sub_product(m: Match) -> Value | None:
    return _fuse(m, m.inputs[0], m.inputs[1], -1.0)


@rule("p + s (a @ b) -> gemm_update", "add")
def _add_product(m: Match) -> Value | None:
    first = _fuse(m, m.inputs[0], m.inputs[1], 1.0)
    return first if first is not None else _fuse(m, m.inputs[1], m.inputs[0], 1.0)


@rule("where(ok, p - s (a @ b), p) -> gemm_update", "where")
def _guarded(m: Match) -> Value | None:
    """The optimizers' non-finite-loss guard around the step (gn.optim): the guard becomes the gemm's ok input."""
    ok, step, p = m.inputs
    if ok.type.shape != () or ok.dtype != "bool" or step.producer is None or step.producer.op not in ("sub", "add"):
        return None
    node = step.producer
    if not _only_reader(m, step, m.node):
        return None
    inner = Match(m.g, node, (), [], m.cache, m.uses)
    if node.op == "sub" and node.inputs[0].id == p.id:
        new = _fuse(inner, p, node.inputs[1], -1.0, m.node, ok)
    elif node.op == "add":
        new = _fuse(inner, p, node.inputs[1], 1.0, m.node, ok) if node.inputs[0].id == p.id else (
            _fuse(inner, p, node.inputs[0], 1.0, m.node, ok) if node.inputs[1].id == p.id else None)
    else:
        new = None
    if new is not None:
        m.involved.extend([node, *inner.involved])
    return new


RULES: list[Rule] = [_sub_product, _add_product, _guarded]


def fuse_gemm_updates(g: Graph) -> Graph:
    """Rewrite every parameter update of the form p -/+ s (a @ b) into gemm_update. O(n + E)."""
    if not g.updates:
        return g
    return rewrite(g, RULES, "gemm_update_fusion")
