"""The backward hazard `where(c, a, f(x))`: the gradient of the discarded branch is 0 * f'(x), which is
0 * inf = nan where f is singular (sqrt, log at 0; division by 0). The "double where" fix feeds f a safe
value on the masked side. Runs before autodiff; a rule table on the rewrite engine (pattern.py).

Imports only graphnn.ir.
"""

from __future__ import annotations

from ..ir.builder import apply1
from ..ir.graph import Graph, Node, Value
from ..ir.op_registry import get_op, registry
from ..ir.ops import elementwise as ew
from .pattern import Match, Rule, rewrite, rule

# op -> index of the input at which its derivative is singular (and a value that is safe there)
SINGULAR = {name: op.singular for name, op in registry().items() if op.singular is not None}
_REASON = ("the discarded branch still gets gradient 0 * f'(x), and f'(x) is infinite where it is masked "
           "(sqrt/log at 0, division by 0), so 0 * inf = nan")


def _singular_below(v: Value, depth: int = 4) -> Node | None:
    """A singular op reached from `v` through elementwise ops (not directly), for the unfixable warning;
    the ones the fusion pass made (log of a max-shifted sum of exps, ...) never see 0."""
    n = v.producer
    if n is None or depth == 0 or not get_op(n.op).elementwise:
        return None
    for u in n.inputs:
        p = u.producer
        if p is not None and p.op in SINGULAR and u.type.is_float and "fused" not in p.tags:
            return p
        found = _singular_below(u, depth - 1)
        if found is not None:
            return found
    return None


def _guarded(m: Match, branch: int) -> Value | None:
    """The branch recomputed on a masked-safe input, or None if it is not f(x) with a singular f."""
    c, v = m.inputs[0], m.inputs[branch]
    f = v.producer
    if f is None or f.op not in SINGULAR or "fused" in f.tags:  # fused forms are safe by construction
        deep = _singular_below(v)
        if deep is not None:
            m.diagnose(f"where(c, ..., g({deep.op}(x)))", f"where(c, a, g({deep.op}(where(c, safe, x))))",
                       _REASON + "; graphnn fixes only f(x) directly under where: guard x by hand", fixed=False)
        return None
    k, safe = SINGULAR[f.op]
    x = f.inputs[k]
    xn = x.producer
    if x.kind == "const" or (xn is not None and xn.op == "where" and xn.inputs[0] is c):  # no gradient / guarded
        return None
    m.producer(v)
    guard = ew.where(c, safe, x) if branch == 2 else ew.where(c, x, safe)
    ins = list(f.inputs)
    ins[k] = guard
    m.diagnose(f"where(c, a, {f.op}(x))", f"where(c, a, {f.op}(where(c, {safe:g}, x)))", _REASON, fixed=True)
    return apply1(f.op, ins, f.attrs)


@rule("where(c, a, f(x)) double where", "where")
def _double_where(m: Match) -> Value | None:
    a = _guarded(m, 1)
    b = _guarded(m, 2)
    if a is None and b is None:
        return None
    return ew.where(m.inputs[0], a if a is not None else m.inputs[1], b if b is not None else m.inputs[2])


RULES: list[Rule] = [_double_where]


def guard_masked_singularities(g: Graph) -> Graph:
    """Apply the double-where fix to where(c, a, f(x)) with singular f, if the graph takes gradients.
    O(n + E) rule attempts through the rewrite engine's worklist."""
    if g.facts.stability == "off" or not any(n.op == "grad" for n in g.nodes):
        return g
    return rewrite(g, RULES, "stability")
