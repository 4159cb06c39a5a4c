"""Forward fusions that are also stability fixes: losses on probabilities become losses on logits, and
hand-written softmax / softplus / log-sum-exp become their stable ops. Runs before autodiff, so the
backward graph is the closed form of the fused op. A rule table on the rewrite engine (pattern.py).

Imports only graphnn.ir.
"""

from __future__ import annotations

from ..ir.graph import Graph, Value
from ..ir.ops import elementwise as ew
from ..ir.ops import fused, nn, reduction, shape_ops
from ..ir.ops.reduction import norm_axes
from .pattern import Match, Rule, rewrite, rule


@rule("cross_entropy(softmax(x))", "cross_entropy", "softmax", None, fused=True, stability=(
    "softmax_cross_entropy(x)",
    "log of a softmax entry that underflowed to 0 is -inf (and exp overflows for large logits); "
    "log-sum-exp on the logits is exact and its gradient is softmax - target"))
def _softmax_cross_entropy(m: Match) -> Value | None:
    sm, (_, y) = m.args[0], m.inputs
    if sm is None or sm.attrs["axis"] != m.node.attrs["axis"]:
        return None
    return fused.softmax_cross_entropy(sm.inputs[0], y, m.node.attrs["reduction"], m.node.attrs["axis"])


@rule("binary_cross_entropy(sigmoid(z))", "binary_cross_entropy", "sigmoid", None, fused=True, stability=(
    "sigmoid_binary_cross_entropy(z)",
    "sigmoid rounds to exactly 0 or 1 for large |z|, so log(p) or log(1 - p) is -inf; "
    "softplus(z) - z*t computed from the logits is exact and its gradient is sigmoid(z) - t"))
def _sigmoid_bce(m: Match) -> Value | None:
    return fused.sigmoid_binary_cross_entropy(m.args[0].inputs[0], m.inputs[1], m.node.attrs["reduction"])


@rule("log(softmax(x))", "log", "softmax", fused=True, stability=(
    "log_softmax(x)", "softmax underflows to 0 for far-below-max logits, whose log is -inf; "
    "x - logsumexp(x) stays finite"))
def _log_softmax(m: Match) -> Value | None:
    sm = m.args[0]
    return nn.log_softmax(sm.inputs[0], sm.attrs["axis"])


@rule("log(sigmoid(x))", "log", "sigmoid", fused=True, stability=(
    "-softplus(-x)", "sigmoid underflows to 0 for very negative x, whose log is -inf; -softplus(-x) is exact"))
def _log_sigmoid(m: Match) -> Value | None:
    return -ew.softplus(-m.args[0].inputs[0])


@rule("log(1 - sigmoid(x))", "log", "sub", fused=True, stability=(
    "-softplus(x)", "1 - sigmoid(x) cancels to 0 for large x, whose log is -inf; -softplus(x) is exact"))
def _log_one_minus_sigmoid(m: Match) -> Value | None:
    one, s = m.args[0].inputs
    sg = m.producer(s, "sigmoid")
    if sg is None or m.scalar(one) != 1.0 or s.type != m.args[0].outputs[0].type:
        return None
    return -ew.softplus(sg.inputs[0])


def _exp_plus_one(m: Match, add_out: Value) -> Value | None:
    """x if `add_out` is 1 + exp(x) (either order) and the 1 does not broadcast exp(x) to a larger shape."""
    a, b = add_out.producer.inputs
    for one, e in ((a, b), (b, a)):
        en = e.producer
        if en is not None and en.op == "exp" and m.scalar(one) == 1.0 and e.type == add_out.type:
            m.producer(e, "exp")
            return en.inputs[0]
    return None


@rule("log(1 + exp(x))", "log", "add", fused=True, stability=(
    "softplus(x)", "exp overflows to inf for x > 88 (float32) and 1 + exp(x) rounds to 1 for very negative x; "
    "softplus is exact on both sides"))
def _softplus(m: Match) -> Value | None:
    x = _exp_plus_one(m, m.inputs[0])
    return None if x is None else ew.softplus(x)


def _shifted_by_max(x: Value, axes: tuple[int, ...]) -> bool:
    """Whether x = y - max(y, axes, keepdims=True) (possibly under stop_gradient): already overflow-safe."""
    n = x.producer
    if n is None or n.op != "sub":
        return False
    y, mx = n.inputs
    mn = mx.producer
    if mn is not None and mn.op == "stop_gradient":
        mn = mn.inputs[0].producer
    return (mn is not None and mn.op == "max" and mn.inputs[0] is y
            and norm_axes(mn.attrs["axes"], y.ndim) == axes)


@rule("log(sum(exp(x)))", "log", "sum", fused=True, stability=(
    "max(x) + log(sum(exp(x - max(x))))", "exp overflows to inf for x > 88 (float32); shifting by the max "
    "keeps every exponent <= 0 and the result is the same"))
def _logsumexp(m: Match) -> Value | None:
    sn = m.args[0]
    e = sn.inputs[0]
    en = e.producer
    if en is None or en.op != "exp":
        return None
    x, keep = en.inputs[0], sn.attrs["keepdims"]
    axes = norm_axes(sn.attrs["axes"], x.ndim)
    if _shifted_by_max(x, axes):
        return None
    m.producer(e, "exp")
    # The max only shifts; stop_gradient keeps its (tie-splitting) gradient out: it cancels exactly.
    mx = ew.stop_gradient(reduction.max(x, axis=axes, keepdims=True))
    lse = ew.log(reduction.sum(ew.exp(x - mx), axis=axes, keepdims=keep))
    return lse + (mx if keep else shape_ops.reshape(mx, m.out.shape))


@rule("exp(x) / sum(exp(x))", "div", "exp", "sum", fused=True)
def _softmax_by_hand(m: Match) -> Value | None:
    en, sn = m.args
    e = m.inputs[0]
    x = en.inputs[0]
    if sn.inputs[0] is not e or x.ndim == 0 or e.type != m.out.type:
        return None
    axes = norm_axes(sn.attrs["axes"], x.ndim)
    if len(axes) != 1 or not (sn.attrs["keepdims"] or x.ndim == 1):
        return None
    if not _shifted_by_max(x, axes):  # with the max shift the user's form is stable; still one op is better
        m.diagnose("exp(x) / sum(exp(x))", "softmax(x)",
                   "exp overflows to inf for x > 88 (float32), giving inf/inf = nan; softmax shifts by the max",
                   fixed=True)
    return nn.softmax(x, axes[0])


RULES: list[Rule] = [
    _softmax_cross_entropy,
    _sigmoid_bce,
    _log_softmax,
    _log_sigmoid,
    _log_one_minus_sigmoid,
    _softplus,
    _logsumexp,
    _softmax_by_hand,
]


def fuse_stable_patterns(g: Graph) -> Graph:
    """Rewrite unstable compositions (losses on probabilities, hand-written softmax/softplus) to stable ops.
    O(n + E) rule attempts through the rewrite engine's worklist."""
    return rewrite(g, RULES, "fusion")
