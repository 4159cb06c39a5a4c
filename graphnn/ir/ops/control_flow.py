"""Control flow inside the graph: `cond(pred, true_fn, false_fn, *operands)`, both branches traced into
subgraphs kept (as JSON text) in the node's `subgraph` attr; only the taken branch runs and gets gradient.

Imports only sibling ir modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import subgraph
from ..builder import apply, as_value, atomic
from ..errors import DTypeError, GraphError, ShapeError
from ..gradutil import zeros_like
from ..graph import Graph, Node, Value
from ..op import REQUIRED, InferCtx, Op
from ..types import TensorType

OPS: list[Op] = []


def _branch_types(br: Graph, args: list[TensorType], which: str) -> list[TensorType]:
    """The branch's output types in the caller's dims (branch input dims are bound to the operands')."""
    if len(br.inputs) != len(args):
        raise GraphError(f"{which} branch takes {len(br.inputs)} inputs, the node gives {len(args)}")
    sub: dict[str, Any] = {}
    for bi, a in zip(br.inputs, args):
        bt = bi.type
        if bt.dtype != a.dtype:
            raise DTypeError(f"{which} branch input {bi.name} is {bt.dtype}, operand is {a.dtype}")
        if bt.rank != a.rank:
            raise ShapeError(f"{which} branch input {bi.name} is {bt}, operand is {a}")
        for bd, ad in zip(bt.shape, a.shape):
            if isinstance(bd, str):
                sub.setdefault(bd, ad)
            elif isinstance(ad, int) and ad != bd:
                raise ShapeError(f"{which} branch input {bi.name} is {bt}, operand is {a}")
    return [TensorType(o.dtype, tuple(sub.get(d, d) if isinstance(d, str) else d for d in o.type.shape))
            for o in br.outputs.values()]


def _cond_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    if t[0].dtype != "bool" or t[0].rank != 0:
        raise DTypeError(f"the predicate must be a bool scalar, got {t[0]} (reduce it, e.g. gn.sum(x) > 0)")
    then_g, else_g = (subgraph.decode(s) for s in attrs["subgraph"])
    then_t = _branch_types(then_g, t[1:], "then")
    else_t = _branch_types(else_g, t[1:], "else")
    if then_t != else_t:
        raise ShapeError("the branches must return the same types: true_fn gives "
                         f"({', '.join(map(str, then_t))}), false_fn gives ({', '.join(map(str, else_t))})")
    return then_t


def _cond_grad(node: Node, gouts: list[Value | None]) -> list[Value | None]:
    # d/dx of cond(p, f, g)(x) is cond(p, vjp f, vjp g): the gradient flows through the taken branch only.
    args = list(node.inputs[1:])
    wrt = [i for i, a in enumerate(args) if a.type.is_float]
    live = [(i, gv) for i, gv in enumerate(gouts) if gv is not None]
    if not wrt or not live:
        return [None] * len(node.inputs)
    branches = [subgraph.decode(s) for s in node.attrs["subgraph"]]

    def backward_of(br: Graph) -> Callable[..., Any]:
        def vjp_fn(*xs: Value) -> tuple[Value, ...]:
            inner, seeds = list(xs[:len(args)]), list(xs[len(args):])
            outs = subgraph.inline(br, inner)
            res = subgraph.vjp([outs[i] for i, _ in live], seeds, [inner[i] for i in wrt])
            return tuple(r if r is not None else zeros_like(inner[i]) for r, i in zip(res, wrt))

        vjp_fn.__name__ = f"{br.name}_vjp"
        return vjp_fn

    grads = cond(node.inputs[0], backward_of(branches[0]), backward_of(branches[1]), *args, *[gv for _, gv in live])
    out: list[Value | None] = [None] * len(node.inputs)
    for i, gv in zip(wrt, grads):
        out[1 + i] = gv
    return out


OPS.append(Op("cond", _cond_rule, (1, None), {"subgraph": REQUIRED, "then_nodes": 0, "else_nodes": 0},
              grad=_cond_grad,
              doc="cond(pred, *operands, *captures): run the then or else subgraph; attrs hold both as JSON"))


def _name_of(fn: Callable[..., Any], default: str) -> str:
    n = getattr(fn, "__name__", default)
    return default if n == "<lambda>" else n


@atomic
def cond(pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any], *operands: Any) -> Any:
    """`true_fn(*operands)` if `pred` else `false_fn(*operands)`, as one graph op; both branches are traced.

    A Python bool (or an eager value) picks the branch right away, like an `if` would.
    """
    if isinstance(pred, bool) or type(pred).__name__ == "bool_" or getattr(pred, "eager", False):
        return true_fn(*operands) if bool(pred) else false_fn(*operands)
    g = Graph.current() or (pred.graph if isinstance(pred, Value) else None)
    if g is None:
        raise GraphError("gn.cond needs a graph value as predicate, or an active graph")
    like = next((o for o in operands if isinstance(o, Value)), None)
    vals = []
    for x in (pred, *operands):
        v = as_value(x, like, g)
        if v.graph is not g:  # an outer, captured or eager value: let the hooks bring it in
            v = apply("identity", [v])[0]
        vals.append(v)
    pred_v, ops = vals[0], vals[1:]
    captures: list[Value] = []
    tb = subgraph.trace_branch(true_fn, ops, g, captures, _name_of(true_fn, "then"))
    fb = subgraph.trace_branch(false_fn, ops, g, captures, _name_of(false_fn, "else"))
    subgraph.finalize(tb)
    subgraph.finalize(fb)
    if tb.multi != fb.multi or len(tb.graph.outputs) != len(fb.graph.outputs):
        raise GraphError(f"gn.cond: true_fn returns {len(tb.graph.outputs)} value(s), "
                         f"false_fn {len(fb.graph.outputs)}; they must match")
    attrs = {"subgraph": (subgraph.encode(tb.graph), subgraph.encode(fb.graph)),
             "then_nodes": len(tb.graph.nodes), "else_nodes": len(fb.graph.nodes)}
    outs = apply("cond", [pred_v, *ops, *captures], attrs)
    return tuple(outs) if tb.multi else outs[0]
