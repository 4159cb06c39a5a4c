"""Control flow inside the graph: `cond(pred, true_fn, false_fn, *operands)`, both branches traced into
subgraphs kept (as JSON text) in the node's `subgraph` attr; only the taken branch runs and gets gradient.
`scan(body, init, xs)`: a loop over the leading axis whose body is one traced subgraph; its gradient is a scan.

Imports only sibling ir modules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import subgraph
from ..builder import apply, as_value, atomic
from ..errors import DTypeError, GraphError, ShapeError
from ..gradutil import zeros_like
from ..graph import Graph, Node, Value
from ..op import REQUIRED, InferCtx, Op
from ..types import TensorType
from .linalg import matmul
from .reduction import sum as rsum
from .shape_ops import reshape, transpose

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


# ---- scan: a loop over the leading axis, its body traced once (jax.lax.scan) ----------------------------------
# Node inputs: init carries (n_carry), scanned xs (n_xs), captures. Body inputs: carries, x_t, captures; body
# outputs: new carries, y_t. Node outputs: final carries, ys stacked on a new leading axis, and the carries each
# step started from ("saved", stacked). The gradient rule extends the forward with the values its backward reads
# (`n_res` extra ys; `base` = hash of the body it extends; passes/scan_merging.py runs the extension in its place),
# so the backward scan reads saved carries and residuals and never recomputes a step. `keep_saved=False` (set
# when no gradient reads them) lets a backend skip stacking the carries; those outputs are then undefined.
# `cell`/`hidden`/`activation` are set by gn.nn's RNN/LSTM/GRU layers so the ONNX exporter emits ONNX's op.


def _scan_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    body = subgraph.decode(attrs["body"])
    nc, nx = attrs["n_carry"], attrs["n_xs"]
    if nx < 1:
        raise GraphError("scan needs at least one scanned input (xs) to take its trip count from")
    length: Any = None
    for k, xt in enumerate(t[nc:nc + nx]):
        if xt.rank < 1:
            raise ShapeError(f"scanned input {k} is a scalar {xt}; xs are scanned over their leading axis")
        length = xt.shape[0] if length is None else ctx.dim_eq(length, xt.shape[0],
                                                               f"scanned inputs' leading dims (input {k} is {xt})")
    step = t[:nc] + [TensorType(x.dtype, x.shape[1:]) for x in t[nc:nc + nx]] + t[nc + nx:]
    outs = _branch_types(body, step, "scan body")
    if len(outs) < nc:
        raise ShapeError(f"the scan body returns {len(outs)} value(s) but the carry has {nc}")
    for k, (got, want) in enumerate(zip(outs[:nc], t[:nc])):
        if got.dtype != want.dtype or got.rank != want.rank or any(
                isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(got.shape, want.shape)):
            raise ShapeError(f"the scan body changes carry {k} from {want} to {got}; the carry must keep its type")
    ys = [TensorType(y.dtype, (length, *y.shape)) for y in outs[nc:]]
    saved = [TensorType(c.dtype, (length, *c.shape)) for c in t[:nc]]
    return list(t[:nc]) + ys + saved


def _scan_grad(node: Node, gouts: list[Value | None]) -> list[Value | None]:
    # Backpropagation through time as a graph: a scan in the opposite direction over (saved carry, x_t, gy_t,
    # g_saved_t), carrying the carries' cotangents and the captures' accumulated gradients; each step is the
    # vector-Jacobian product of the body at the carry that step started from.
    nc, nx = node.attrs["n_carry"], node.attrs["n_xs"]
    ins = list(node.inputs)
    init, xs, caps = ins[:nc], ins[nc:nc + nx], ins[nc + nx:]
    ny = len(node.outputs) - 2 * nc
    gfinal, gys, gsaved = gouts[:nc], gouts[nc:nc + ny], gouts[nc + ny:]
    saved = node.outputs[nc + ny:]
    body = subgraph.decode(node.attrs["body"])
    fc = [i for i in range(nc) if init[i].type.is_float]
    fx = [i for i in range(nx) if xs[i].type.is_float]
    fk = [i for i in range(len(caps)) if caps[i].type.is_float]
    fy = [j for j in range(ny) if gys[j] is not None]
    gs = [i for i in fc if gsaved[i] is not None]
    if not (fc or fx or fk) or not (fy or gs or any(gfinal[i] is not None for i in fc)):
        return [None] * len(ins)

    # The forward keeps what the backward reads (a scan of the same body with those values as extra ys; the
    # merge_scans pass makes it replace the original), so no step is recomputed.
    wrt = fc + [nc + i for i in fx] + [nc + nx + i for i in fk]
    keep = subgraph.vjp_residuals(body, fc + [nc + j for j in fy], wrt)
    if keep:
        ext = subgraph.from_json(node.attrs["body"])
        for k, (i, j) in enumerate(keep):
            ext.output(f"res{node.attrs['n_res'] + k:04d}", ext.nodes[i].outputs[j])
        attrs = {**node.attrs, "body": subgraph.encode(ext), "n_res": node.attrs["n_res"] + len(keep),
                 "base": hashlib.sha1(node.attrs["body"].encode()).hexdigest()}
        fouts = list(apply("scan", ins, attrs))
        res_seq = fouts[nc + ny:nc + ny + len(keep)]
        saved = fouts[nc + ny + len(keep):]
    else:
        res_seq = []

    hoist = _hoistable(body, nc + nx, fk)
    fa = [i for i in fk if i not in hoist]  # captures whose gradient is accumulated in a carry
    plan: dict[int, tuple] = {}  # hoisted capture -> where its factors (or per-step gradients) come out

    def step(c: tuple[Value, ...], x: tuple[Value, ...]) -> tuple[Any, Any]:
        it = iter((*c, *x))
        gc = [next(it) for _ in fc]
        acc = [next(it) for _ in fa]
        sc = [next(it) for _ in range(nc)]
        xt = [next(it) for _ in range(nx)]
        gy = [next(it) for _ in fy]
        gsv = [next(it) for _ in gs]
        kept = [next(it) for _ in keep]
        cin = [apply("identity", [c])[0] for c in caps]  # captured inside this body; the vjp's targets
        m = subgraph.inline_map(body, sc + xt + cin)
        outs = [m[v.id] for v in body.outputs.values()]
        seeds = [*gc, *gy]
        targets = [sc[i] for i in fc] + [xt[i] for i in fx] + [cin[i] for i in fk]
        grads = subgraph.vjp([outs[i] for i in fc] + [outs[nc + j] for j in fy], seeds, targets)
        swap = {m[body.nodes[i].outputs[j].id].id: r for (i, j), r in zip(keep, kept)}
        Graph.current().replace_uses(swap)  # the recomputed forward values are now dead: the body drops them
        grads = [swap.get(g.id, g) if g is not None else zeros_like(w) for g, w in zip(grads, targets)]
        gcs, gxs, gks = grads[:len(fc)], grads[len(fc):len(fc) + len(fx)], grads[len(fc) + len(fx):]
        gcs = [g + gsv[gs.index(i)] if i in gs else g for g, i in zip(gcs, fc)]
        outer = {v.id: s for v, s in zip(sc + xt + kept, list(saved) + xs + res_seq)}
        extra = _hoisted_ys(dict(zip(fk, gks)), hoist, outer, len(gxs), plan)
        return (*gcs, *[s + gks[fk.index(i)] for s, i in zip(acc, fa)]), (*gxs, *extra)

    step.__name__ = f"{body.name}_vjp"
    carry0 = [gfinal[i] if gfinal[i] is not None else zeros_like(init[i]) for i in fc] + [zeros_like(caps[i]) for i in fa]
    seq = list(saved) + xs + [gys[j] for j in fy] + [gsaved[i] for i in gs] + res_seq
    outs = scan_values(step, carry0, seq, not node.attrs["reverse"], "scan_grad")
    hoisted = {i: _sum_over_steps(plan[i], outs[len(carry0):]) for i in hoist}
    res: list[Value | None] = [None] * len(ins)
    k = 0
    for i in fc:
        res[i] = outs[k]
        k += 1
    for i in fa:
        res[nc + nx + i] = outs[k]
        k += 1
    for i in hoist:
        res[nc + nx + i] = hoisted[i]
    k = len(carry0)
    for i in fx:
        res[nc + i] = outs[k]
        k += 1
    return res


def _hoistable(body: Graph, first_cap: int, fk: list[int]) -> set[int]:
    """The float captures whose only use in the body is as the weight of a 2-D product `u @ w` (a recurrent
    weight): their gradient, sum over steps of uᵀ dz, becomes one product over the stacked steps after the loop
    instead of a small product and an accumulation in every step of the backward scan."""
    users = body.consumers()
    outs = {v.id for v in body.outputs.values()}
    found = set()
    for i in fk:
        w = body.inputs[first_cap + i]
        use = users.get(w.id, [])
        if (len(use) == 1 and use[0].op == "matmul" and use[0].inputs[1] is w and use[0].inputs[0] is not w
                and w.ndim == 2 and use[0].inputs[0].ndim == 2 and w.id not in outs):
            found.add(i)
    return found


def _hoisted_ys(grads: dict[int, Value], hoist: set[int], outer: dict[int, Value], first: int,
                plan: dict[int, tuple]) -> list[Value]:
    """Inside the backward step: for each hoisted capture, the factors u and dz of its step gradient uᵀ dz as
    extra ys (u read from the outer sequence it already is, when it is a scanned input), recorded in `plan`;
    a gradient of another form comes out whole and is summed over the steps."""
    ys: list[Value] = []
    for i in sorted(hoist):
        g = grads[i]
        mm = g.producer
        tr = mm.inputs[0].producer if mm is not None and mm.op == "matmul" else None
        if tr is not None and tr.op == "transpose" and tuple(tr.attrs["perm"]) == (1, 0) and g.ndim == 2:
            u, dz = tr.inputs[0], mm.inputs[1]
            src: Any = outer.get(u.id)
            if src is None:
                ys.append(u)
                src = first + len(ys) - 1
            ys.append(dz)
            plan[i] = ("product", src, first + len(ys) - 1)
        else:
            ys.append(g)
            plan[i] = ("sum", first + len(ys) - 1)
    return ys


def _sum_over_steps(entry: tuple, ys: list[Value]) -> Value:
    """After the backward loop: sum_t u_tᵀ dz_t as one 2-D product over the stacked (steps · rows), or the
    stacked per-step gradients summed over the steps."""
    if entry[0] == "sum":
        return rsum(ys[entry[1]], axis=0)
    u = entry[1] if isinstance(entry[1], Value) else ys[entry[1]]
    dz = ys[entry[2]]
    return matmul(transpose(reshape(u, (-1, u.shape[-1])), (1, 0)), reshape(dz, (-1, dz.shape[-1])))


OPS.append(Op("scan", _scan_rule, (1, None),
              {"body": REQUIRED, "n_carry": REQUIRED, "n_xs": REQUIRED, "reverse": False, "body_nodes": 0,
               "n_res": 0, "base": "", "keep_saved": True, "cell": "", "hidden": 0, "activation": ""},
              grad=_scan_grad,
              doc="scan(*init, *xs, *captures): run the body subgraph over the leading axis of xs; outputs the final "
                  "carries, the stacked ys and the stacked carries each step started from"))


def _flat(x: Any) -> tuple[list[Any], bool]:
    """A carry or y as a flat list, and whether it was a tuple (a lone Value is not)."""
    if isinstance(x, (tuple, list)):
        return list(x), True
    return [x], False


def _describe(x: Any) -> str:
    if isinstance(x, (tuple, list)):
        return "(" + ", ".join(_describe(e) for e in x) + (",)" if len(x) == 1 else ")")
    return str(x.type) if isinstance(x, Value) else type(x).__name__


@dataclass(frozen=True)
class _Step:
    """Stands for one step's slice of a scanned input while the body is traced (only its type is read)."""

    type: TensorType


def scan_values(body: Callable[..., Any], init: list[Any], xs: list[Any], reverse: bool, label: str,
                 structure: tuple[bool, bool] = (True, True)) -> list[Value]:
    """Trace `body` on one step's types and add the scan node; returns all its outputs (saved carries last)."""
    g = Graph.current() or next((v.graph for v in init + xs if isinstance(v, Value)), None)
    if g is None:
        raise GraphError("gn.scan needs graph values (xs) or an active graph")
    like = next((v for v in xs + init if isinstance(v, Value)), None)
    vals = []
    for x in init + xs:
        v = as_value(x, like, g)
        if v.graph is not g:  # an outer, captured or eager value: let the hooks bring it in
            v = apply("identity", [v])[0]
        vals.append(v)
    carry, seq = vals[:len(init)], vals[len(init):]
    if not seq:
        raise GraphError("gn.scan: xs is empty; the trip count comes from the leading axis of xs")
    for k, x in enumerate(seq):
        if x.ndim < 1:
            raise ShapeError(f"gn.scan: xs[{k}] is a scalar ({x.type}); xs are scanned over their leading axis")
    lengths = {x.shape[0] for x in seq if isinstance(x.shape[0], int)}
    if len(lengths) > 1:
        raise ShapeError(f"gn.scan: the scanned inputs' leading dims differ ({', '.join(str(x.type) for x in seq)}); "
                         "every xs is scanned over the same steps")
    carry_tuple, xs_tuple = structure
    given = tuple(carry) if carry_tuple else carry[0]

    def traced(*a: Value) -> tuple[Value, ...]:
        c, x = a[:len(carry)], a[len(carry):]
        out = body(tuple(c) if carry_tuple else c[0], tuple(x) if xs_tuple else x[0])
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ShapeError(f"gn.scan: the body must return a pair (carry, y), got {_describe(out)}")
        new_c, y = out
        flat, is_tuple = _flat(new_c)
        if is_tuple != carry_tuple or len(flat) != len(carry):
            raise ShapeError(f"gn.scan: the body returns carry {_describe(new_c)} but was given carry "
                             f"{_describe(given)}; the carry must keep its structure")
        for k, (o, i) in enumerate(zip(flat, carry)):
            if isinstance(o, Value) and (o.dtype != i.dtype or o.ndim != i.ndim or any(
                    isinstance(p, int) and isinstance(q, int) and p != q for p, q in zip(o.shape, i.shape))):
                raise ShapeError(f"gn.scan: the body changes carry {k} from {i.type} to {o.type}; "
                                 "the carry must keep its type")
        ys = [] if y is None else _flat(y)[0]
        return (*flat, *ys)

    name = getattr(body, "__name__", label)
    traced.__name__ = label if name == "<lambda>" else name
    captures: list[Value] = []
    step_types = [*carry, *[_Step(TensorType(x.dtype, tuple(x.shape[1:]))) for x in seq]]
    br = subgraph.trace_branch(traced, step_types, g, captures, traced.__name__)  # type: ignore[arg-type]
    subgraph.finalize(br)
    # Nodes no output reads run every step otherwise: a gradient body leaves its recomputed forward (replaced by
    # residuals) and the per-step weight products it hoisted out of the loop (_hoisted_ys) behind.
    br.graph.prune_constants(br.graph.drop_unneeded(br.graph.live_ids()))
    attrs = {"body": subgraph.encode(br.graph), "n_carry": len(carry), "n_xs": len(seq), "reverse": bool(reverse),
             "body_nodes": len(br.graph.nodes)}
    return list(apply("scan", [*carry, *seq, *captures], attrs))


@atomic
def scan(body: Callable[..., Any], init: Any, xs: Any, *, reverse: bool = False) -> tuple[Any, Any]:
    """`jax.lax.scan`: `body(carry, x_t) -> (carry, y_t)` traced once into a subgraph and run over the leading axis
    of `xs` (a Value or tuple); returns `(final_carry, ys)` with the ys stacked on a new leading axis.

    `reverse=True` runs from the last step to the first (ys stay indexed by step), as in jax.
    """
    init_l, carry_tuple = _flat(init)
    xs_l, xs_tuple = _flat(xs)
    ys_shape: list[Any] = []

    def probe(c: Any, x: Any) -> Any:  # remembers whether the body's y is a tuple, a Value or None
        out = body(c, x)
        if isinstance(out, (tuple, list)) and len(out) == 2:
            ys_shape.append(out[1])
        return out

    probe.__name__ = getattr(body, "__name__", "scan_body")
    outs = scan_values(probe, init_l, xs_l, reverse, "scan_body", (carry_tuple, xs_tuple))
    nc = len(init_l)
    ny = len(outs) - 2 * nc
    final = tuple(outs[:nc]) if carry_tuple else outs[0]
    y = ys_shape[0] if ys_shape else None
    ys = outs[nc:nc + ny]
    if y is None:
        return final, None
    return final, (tuple(ys) if isinstance(y, (tuple, list)) else ys[0])
