"""Algebraic identities (x*1, x+0, x-x, neg(neg x), transpose/reshape chains, exp(log x) when safe, ...).
Every rule is type-preserving: `x + 0` where the 0 broadcasts x to a larger shape is not `x`, so each rule
checks the result's type (the engine also refuses any rule that changes it). A rule table on pattern.py.

Imports only graphnn.ir.
"""

from __future__ import annotations

from ..ir.builder import apply1
from ..ir.gradutil import zeros_like
from ..ir.graph import Graph, Value
from ..ir.op_registry import registry
from ..ir.ops import shape_ops
from ..ir.ops.reduction import norm_axes
from .pattern import Match, Rule, constant_array, rewrite, rule

# Ops whose output is never negative: exp(log x) is x on them (log 0 = -inf, exp(-inf) = 0 keeps zeros).
NONNEGATIVE = frozenset(name for name, op in registry().items() if op.nonnegative)


def _same(m: Match, v: Value) -> Value | None:
    """`v` if it can stand in for the root's output (same dtype and shape), else None."""
    return v if v.type == m.out.type else None


def _with_unit(m: Match, unit: float, commutes: bool) -> Value | None:
    a, b = m.inputs
    if m.scalar(b) == unit and _same(m, a) is not None:
        return a
    if commutes and m.scalar(a) == unit and _same(m, b) is not None:
        return b
    return None


@rule("x * 1", "mul")
def _mul_one(m: Match) -> Value | None:
    return _with_unit(m, 1.0, True)


@rule("x + 0", "add")
def _add_zero(m: Match) -> Value | None:
    return _with_unit(m, 0.0, True)


@rule("x - 0", "sub")
def _sub_zero(m: Match) -> Value | None:
    return _with_unit(m, 0.0, False)


@rule("x / 1", "div")
def _div_one(m: Match) -> Value | None:
    return _with_unit(m, 1.0, False)


@rule("0 - x", "sub")
def _zero_sub(m: Match) -> Value | None:
    a, b = m.inputs
    return -b if m.scalar(a) == 0.0 and b.type == m.out.type else None


@rule("x - x", "sub")
def _sub_self(m: Match) -> Value | None:
    # Exact for finite x (inf - inf is nan; graphnn treats that as an overflow already lost).
    a, b = m.inputs
    return zeros_like(m.out) if a is b else None


@rule("x + neg(y)", "add")
def _add_neg(m: Match) -> Value | None:
    a, b = m.inputs
    if (n := m.producer(b, "neg")) is not None:
        return a - n.inputs[0]
    if (n := m.producer(a, "neg")) is not None:
        return b - n.inputs[0]
    return None


@rule("x - neg(y)", "sub", None, "neg")
def _sub_neg(m: Match) -> Value | None:
    return m.inputs[0] + m.args[1].inputs[0]


@rule("neg(neg(x))", "neg", "neg")
def _neg_neg(m: Match) -> Value | None:
    return _same(m, m.args[0].inputs[0])


@rule("transpose(transpose(x))", "transpose", "transpose")
def _transpose_transpose(m: Match) -> Value | None:
    inner = m.args[0]
    x, p1, p2 = inner.inputs[0], inner.attrs["perm"], m.node.attrs["perm"]
    perm = tuple(p1[p] for p in p2)
    return x if perm == tuple(range(x.ndim)) else shape_ops.transpose(x, perm)


@rule("transpose(a @ b) -> transpose(b) @ transpose(a)", "transpose", "matmul")
def _transpose_matmul(m: Match) -> Value | None:
    # The product lands in the layout its reader wants: the operands' transposes are views that BLAS reads as
    # they are, where the transposed product was a strided view every later pass reads slowly (an optimizer
    # update of a (4H, H) weight whose gradient came out (H, 4H): 181 us against a contiguous read's fraction).
    mm, perm, nd = m.args[0], m.node.attrs["perm"], m.out.ndim
    a, b = mm.inputs
    if nd < 2 or a.ndim < 2 or b.ndim < 2 or tuple(perm) != (*range(nd - 2), nd - 1, nd - 2):
        return None
    product = mm.outputs[0]
    if not m.private(product):
        return None  # the product is needed as it is too: rewriting would compute it twice

    def swap(v: Value) -> Value:
        return shape_ops.transpose(v, (*range(v.ndim - 2), v.ndim - 1, v.ndim - 2))

    return _same(m, apply1("matmul", [swap(b), swap(a)]))


@rule("transpose(x, identity)", "transpose")
def _transpose_identity(m: Match) -> Value | None:
    return m.inputs[0] if m.node.attrs["perm"] == tuple(range(m.inputs[0].ndim)) else None


@rule("reshape(reshape(x))", "reshape", "reshape")
def _reshape_reshape(m: Match) -> Value | None:
    x = m.args[0].inputs[0]
    return x if x.type == m.out.type else shape_ops.reshape(x, m.out.shape)


@rule("no-op shape op", "reshape")
def _reshape_same(m: Match) -> Value | None:
    return _same(m, m.inputs[0])


@rule("no-op shape op", "broadcast_to")
def _broadcast_same(m: Match) -> Value | None:
    return _same(m, m.inputs[0])


@rule("no-op cast", "cast")
def _cast_same(m: Match) -> Value | None:
    return _same(m, m.inputs[0])


@rule("identity(x)", "identity")
def _identity(m: Match) -> Value | None:
    return m.inputs[0]


@rule("stop_gradient after autodiff", "stop_gradient")
def _stop_gradient(m: Match) -> Value | None:
    # In the rule table only once no gradient request is left to expand (simplify_algebra checks that once per
    # pass); before that it changes what autodiff computes.
    return m.inputs[0]


@rule("where(c, x, x)", "where")
def _where_same(m: Match) -> Value | None:
    _, a, b = m.inputs
    return _same(m, a) if a is b else None


def _reduce_size_one(m: Match) -> Value | None:
    x = m.inputs[0]
    axes = norm_axes(m.node.attrs["axes"], x.ndim)
    if not all(x.shape[a] == 1 for a in axes):
        return None
    return x if x.type == m.out.type else shape_ops.reshape(x, m.out.shape)


_REDUCE_RULES = [rule("reduce over size-1 axes", op)(_reduce_size_one) for op in ("sum", "mean", "max", "min")]


def _reshape_of_keepdims(m: Match) -> Value | None:
    # Gradient rules reduce with keepdims=True and then reshape the kept 1s away: one reduction does both.
    red = m.args[0]
    x = red.inputs[0]
    if not red.attrs["keepdims"] or len(m.users(red.outputs[0])) != 1:
        return None
    axes = norm_axes(red.attrs["axes"], x.ndim)
    if tuple(d for i, d in enumerate(x.shape) if i not in axes) != tuple(m.out.shape):
        return None
    return apply1(red.op, [x], {"axes": axes, "keepdims": False})


_RESHAPE_RULES = [rule("reshape(reduce(x, keepdims))", "reshape", op)(_reshape_of_keepdims)
                  for op in ("sum", "mean", "max", "min")]


@rule("exp(log(x)), x >= 0", "exp", "log")
def _exp_log(m: Match) -> Value | None:
    x = m.args[0].inputs[0]
    p = x.producer
    const = constant_array(x)
    if (p is not None and p.op in NONNEGATIVE) or (const is not None and bool((const >= 0).all())):
        return _same(m, x)
    return None  # for x < 0 the composition is nan, not x


@rule("log(exp(x))", "log", "exp")
def _log_exp(m: Match) -> Value | None:
    # Equal for every x where exp does not overflow, and exact (not inf) where it would.
    return _same(m, m.args[0].inputs[0])


RULES: list[Rule] = [
    _mul_one, _add_zero, _sub_zero, _div_one, _zero_sub, _sub_self, _add_neg, _sub_neg, _neg_neg,
    _transpose_transpose, _transpose_matmul, _transpose_identity, _reshape_reshape, _reshape_same, _broadcast_same, _cast_same,
    _identity, _where_same, *_REDUCE_RULES, *_RESHAPE_RULES, _exp_log, _log_exp,
]


def simplify_algebra(g: Graph) -> Graph:
    """Apply the algebraic identities to a fixed point: a worklist (the rewrite engine), not whole-graph sweeps;
    O(n + E) rule attempts plus those the firings' neighbourhoods add. stop_gradient is dropped only once no
    gradient request is left (one O(n) look per pass: no rule here adds or removes a request)."""
    pending = any(n.op == "grad" for n in g.nodes)
    return rewrite(g, RULES if pending else [*RULES, _stop_gradient], "simplify")
