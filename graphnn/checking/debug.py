"""Numerics debugging for `check_numerics=True`: find the first node whose output holds NaN/inf, summarize
its inputs, and when it is a fused node replay the ops it was fused from (in its dtype and in float64) to
name the original sub-op and its line. User-level library: may import anything in graphnn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.executor import bind_feeds, run_plan
from ..ir.errors import NumericsError
from ..ir.graph import Graph, Node
from ..passes.pipeline import run_pipeline


class _Stop(Exception):
    pass


def _nonfinite(a: Any) -> bool:
    a = np.asarray(_host(a))
    return a.dtype.kind == "f" and not bool(np.isfinite(a).all())


def _host(a: Any) -> Any:
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a  # CuPy -> NumPy


def summarize(a: Any) -> str:
    """'float32[4,3] min=.. max=.. mean=.. nan=k inf=k' over the finite entries."""
    a = np.asarray(_host(a))
    head = f"{a.dtype.name}[{','.join(map(str, a.shape))}]"
    if a.dtype.kind not in "fiub" or a.size == 0:
        return head
    fin = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    nan = int(np.isnan(a).sum()) if a.dtype.kind == "f" else 0
    inf = int(np.isinf(a).sum()) if a.dtype.kind == "f" else 0
    if fin.size == 0:
        return f"{head} (no finite entries) nan={nan} inf={inf}"
    return (f"{head} min={fin.min():.4g} max={fin.max():.4g} mean={fin.astype(np.float64).mean():.4g} "
            f"nan={nan} inf={inf}")


def first_nonfinite(fn: Any, feeds: dict[str, Any]) -> tuple[Node, dict[int, Any]] | None:
    """Re-run `fn` on `feeds` step by step; the first node with a non-finite output and every value so far."""
    arrays, env = bind_feeds(fn.graph, feeds, fn.backend.asarray)
    try:
        plan = fn.plan_for(env, inplace=False)  # never touch parameters while diagnosing
    except TypeError:
        plan = fn.plan_for(env)
    storage = fn.backend.storage_view(fn.storage)
    g = fn.graph
    values: dict[int, Any] = {v.id: arrays[v.name] for v in g.inputs}
    values.update({v.id: storage[v.name] for v in g.params + g.state})
    values.update({v.id: g.constants[v.id] for v in g.const_values})
    hit: list[Node] = []

    def on_step(st: Any, outs: tuple) -> None:
        for v, o in zip(st.node.outputs, outs):
            values[v.id] = o.copy() if hasattr(o, "copy") else o  # buffers may be reused by later steps
        if any(_nonfinite(o) for o in outs):
            hit.append(st.node)
            raise _Stop

    try:
        run_plan(plan, fn.backend.xp, arrays, storage, False, on_step)
    except _Stop:
        return hit[0], values
    return None


def _graphs_of(fn: Any) -> list[Graph]:
    """Graphs in which the nodes a fused node came from may live: the user's graph and every pass snapshot."""
    gs = [fn.source]
    src = fn.pipeline_input
    if src is not None:
        rep = fn.report()
        try:
            _, r = run_pipeline(src, rep.target, [x.name for x in rep.records], keep_graphs=True)
            gs += [x.before for x in r.records if x.before is not None]
        except Exception:  # the replay is best effort; the error message still names the fused node
            pass
    return gs


def replay_fused(fn: Any, node: Node, values: dict[int, Any]) -> list[str]:
    """Lines naming the first non-finite original sub-op of fused `node`, in its dtype and in float64."""
    ids = set(node.prov.derived_from)
    found: dict[int, tuple[Node, Graph]] = {}
    for g in _graphs_of(fn):
        for n in g.nodes:
            if n.id in ids and n.id not in found:
                found[n.id] = (n, g)
    if not found:
        return [f"  fused from node ids {sorted(ids)}, which no stored graph holds; cannot replay"]
    subs = [found[i] for i in sorted(found)]  # ids grow in creation order, a topological order
    lines = ["  fused from: " + ", ".join(f"{n.op} ({n.name}) at {n.location}" for n, _ in subs)]
    kernels = fn.backend.kernels
    env: dict[str, int] = {}
    for v in node.inputs:
        a = np.asarray(_host(values[v.id]))
        for d, s in zip(v.type.shape, a.shape):
            if isinstance(d, str):
                env[d] = s
    for label, f64 in (("in " + (node.outputs[0].dtype), False), ("in float64", True)):
        vals = {k: np.asarray(_host(a)) for k, a in values.items()}
        culprit = None
        for n, g in subs:
            args = []
            for v in n.inputs:
                a = vals.get(v.id, g.constants.get(v.id))
                if a is None:
                    return lines + [f"  cannot replay: input {v.name} of {n.name} is not available"]
                args.append(a.astype(np.float64) if f64 and a.dtype.kind == "f" else a)
            for d, s in ((d, s) for v, a in zip(n.inputs, args) for d, s in zip(v.type.shape, a.shape)):
                if isinstance(d, str):
                    env.setdefault(d, s)
            with np.errstate(all="ignore"):
                res = kernels[n.op](np, n, env)(*args)
            outs = res if len(n.outputs) > 1 else (res,)
            for v, o in zip(n.outputs, outs):
                vals[v.id] = np.asarray(o)
            if culprit is None and any(_nonfinite(o) for o in outs):
                culprit = n
                stats = "; ".join(f"{v.name}: {summarize(a)}" for v, a in zip(n.inputs, args))
                lines.append(f"  replayed {label}: first non-finite sub-op is {n.op} ({n.name}) at {n.location}; "
                             f"its inputs: {stats}")
        if culprit is None:
            lines.append(f"  replayed {label}: every sub-op is finite"
                         + (" (the float32 computation overflowed or lost precision)" if f64 else ""))
    return lines


def explain_nonfinite(fn: Any, feeds: dict[str, Any], err: Exception | None = None) -> NumericsError:
    """A NumericsError naming the first non-finite node, its inputs' statistics and, if fused, the sub-op."""
    found = first_nonfinite(fn, feeds)
    if found is None:
        return err if isinstance(err, NumericsError) else NumericsError(str(err))
    node, values = found
    outs = [np.asarray(_host(values[v.id])) for v in node.outputs]
    bad = next(o for o in outs if _nonfinite(o))
    lines = [f"node {node.name} (op {node.op}) at {node.location} produced "
             f"{int(np.isnan(bad).sum())} NaN and {int(np.isinf(bad).sum())} inf values "
             f"in an output of shape {tuple(bad.shape)}", "  inputs:"]
    lines += [f"    {v.name}: {summarize(values[v.id])}" for v in node.inputs]
    fused = "fused" in node.tags or node.op.startswith("fused") or (
        node.prov.derived_from and "backward" not in node.tags)
    if fused:
        lines += replay_fused(fn, node, values)
    e = NumericsError("\n".join(lines))
    e.node = node  # type: ignore[attr-defined]
    return e
