"""The data_parallel pass: after autodiff, average every gradient (and every batch-mean output, the loss) across
ranks with `all_reduce` nodes, one per dtype bucket; plus the loss check and the graph hash it relies on. The
buckets are tagged "overlap": the NumPy executor runs them as non-blocking all-reduces (backends/nonblocking.py).

Imports only graphnn.ir. The rank and the number of ranks come in `g.facts.data_parallel` (set by gn.compile).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..ir.errors import GraphError
from ..ir.graph import Graph, Node, Value
from ..ir.ops.reduction import norm_axes
from ..ir.provenance import Provenance

# Batch kinds: "none" (the same on every rank), "rows" (per example), "mean"/"sum" (reduced over the batch axis),
# "other" (reduced some other way: averaging it across ranks would not give the one-process value).
_PASS_KIND = frozenset({"neg", "identity", "cast", "reshape", "stop_gradient"})


def _reduces_batch(n: Node) -> str | None:
    """'mean' or 'sum' when `n` reduces its first input over axis 0 (the batch), else None."""
    x = n.inputs[0]
    if n.op in ("mean", "sum"):
        return n.op if x.type.rank and 0 in norm_axes(n.attrs.get("axes"), x.type.rank) else None
    red = n.attrs.get("reduction")
    if red in ("mean", "sum") and n.outputs[0].type.rank == 0:
        return red
    return None


def batch_kinds(g: Graph) -> dict[int, str]:
    """Value id -> batch kind, for every value of `g` (inputs are per-example rows; gradients are averaged)."""
    kinds: dict[int, str] = {v.id: "rows" for v in g.inputs}
    for n in g.nodes:
        ks = [kinds.get(v.id, "none") for v in n.inputs]
        if n.op == "grad" or all(k == "none" for k in ks):
            kind = "none"  # a requested gradient is the same on every rank once this pass averages it
        elif "rows" in ks:
            red = _reduces_batch(n) if ks[0] == "rows" else None
            if red is not None and all(k in ("none", "rows") for k in ks):
                kind = red
            else:
                kind = "rows" if red is None and all(o.type.rank for o in n.outputs) else "other"
        else:
            live = {k for k in ks if k != "none"}
            if "other" in live or len(live) > 1:
                kind = "other"
            elif n.op in ("add", "sub") or n.op in _PASS_KIND:
                kind = live.pop()
            elif n.op == "mul" or (n.op == "div" and ks[1] == "none"):
                kind = live.pop() if sum(k != "none" for k in ks) == 1 else "other"
            else:
                kind = "other"
        for o in n.outputs:
            kinds[o.id] = kind
    return kinds


def _error(msg: str) -> GraphError:
    err = GraphError(msg)
    err.all_ranks = True  # type: ignore[attr-defined]  # every rank finds it alike: no rank hangs
    return err


def prepare_data_parallel(g: Graph, rank: int, size: int) -> None:
    """Check that every differentiated loss is a batch mean and record what the pass will average."""
    kinds = batch_kinds(g)
    grads: list[int] = []
    for n in g.nodes:
        if n.op != "grad":
            continue
        loss = n.inputs[0]
        kind = kinds.get(loss.id, "none")
        # Gradients with respect to parameters and state are averaged; those with respect to the (per-example)
        # inputs stay each rank's own.
        shared = [o.id for x, o in zip(n.inputs[1:], n.outputs) if kinds.get(x.id, "none") == "none"]
        if not shared:
            continue
        where = g.producer[loss.id].location if loss.id in g.producer else "<unknown>"
        if kind == "sum":
            raise _error(f"gn.compile(data_parallel=True): the loss {loss.name} (at {where}) is a sum over the batch, "
                         f"not a mean; every rank sums its own shard, so averaging the ranks' gradients would give "
                         f"1/{size} of the one-process gradient. Use reduction='mean' or gn.mean for the loss")
        if kind in ("rows", "other"):
            raise _error(f"gn.compile(data_parallel=True): the loss {loss.name} (at {where}) is not a mean over the "
                         f"batch ({'not reduced over axis 0' if kind == 'rows' else 'reduced some other way'}); "
                         "averaging the ranks' gradients equals the one-process gradient only for a batch-mean loss")
        grads.extend(shared)
    means = [k for k, v in g.outputs.items() if kinds.get(v.id) == "mean"]
    first = next((v.type.shape[0] for v in g.inputs if v.type.rank and isinstance(v.type.shape[0], str)), "")
    g.facts.data_parallel = {"rank": rank, "size": size, "grads": grads, "mean_outputs": means,
                               "batch_dim": first}


def graph_hash(g: Graph) -> int:
    """A 62-bit hash of the graph's structure (ops, attrs, types, wiring; not ids or names of nodes), equal on
    every rank that built the same graph, whatever else each process built before."""
    ref: dict[int, int] = {}
    dims: dict[str, str] = {}

    def t(v: Value) -> str:
        shape = [d if isinstance(d, int) else dims.setdefault(g.canon_dim(d), f"d{len(dims)}") for d in v.type.shape]
        return f"{v.type.dtype}{shape}"

    parts = []
    for kind, vals in (("in", g.inputs), ("param", g.params), ("state", g.state)):
        for v in vals:
            ref[v.id] = len(ref)
            parts.append(f"{kind} {v.name} {t(v)}")
    for n in g.nodes:
        args = [ref.get(v.id, -1) if v.id in ref else f"c{t(v)}" for v in n.inputs]
        for o in n.outputs:
            ref[o.id] = len(ref)
        attrs = {k: v for k, v in sorted(n.attrs.items()) if k not in ("check_hash",)}
        parts.append(f"{n.op} {args} {attrs} {[t(o) for o in n.outputs]}")
    parts.append(f"out {sorted((k, ref.get(v.id, -1)) for k, v in g.outputs.items())}")
    parts.append(f"upd {sorted((k, ref.get(v.id, -1)) for k, v in g.updates.items())}")
    digest = hashlib.blake2b("\n".join(parts).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 2) or 1


def _constant_derived(g: Graph) -> set[int]:
    """Values computed from constants only: equal on every rank, and evaluated by the planner at plan time."""
    out = {v.id for v in g.const_values}
    for n in g.nodes:
        if n.inputs and all(v.id in out for v in n.inputs):
            out.update(o.id for o in n.outputs)
    return out


def _rank_seed(seed: int, rank: int) -> int:
    """Each rank's dropout seed: distinct per rank, reproducible, rank 0 keeps the user's seed."""
    return seed if rank == 0 else int.from_bytes(hashlib.blake2b(f"{seed}/{rank}".encode(), digest_size=4).digest(),
                                                 "little")


BUCKET_BYTES = 25 << 20  # one flat buffer per dtype up to this size; larger models get a few, in gradient order
# Tag the gradient all-reduces "overlap": the NumPy executor then starts each as a non-blocking MPI_Iallreduce
# where it is scheduled and waits only before the first update that reads it (docs/distributed.md).
OVERLAP = True


def _buckets(values: list[Value], pos: dict[int, int], cap: int) -> list[list[Value]]:
    """Same-dtype groups of at most `cap` bytes (a larger tensor alone), filled in the order the values are made,
    so a bucket of the last layers' gradients is complete, and reduced, before the earlier layers' backward."""
    seen: set[int] = set()
    open_: dict[str, tuple[list[Value], int]] = {}
    out: list[list[Value]] = []
    for v in sorted(values, key=lambda v: pos[v.id]):
        if v.id in seen or not v.type.is_float:
            continue
        seen.add(v.id)
        size = 1
        for d in v.type.shape:
            size *= d if isinstance(d, int) else 1
        size *= 8 if v.dtype == "float64" else 4 if v.dtype == "float32" else 2
        cur, used = open_.get(v.dtype, ([], 0))
        if cur and used + size > cap:
            out.append(cur)
            cur, used = [], 0
        open_[v.dtype] = (cur + [v], used + size)
    out.extend(cur for cur, _ in open_.values() if cur)
    return out


def average_gradients(g: Graph) -> Graph:
    """The data_parallel pass: `all_reduce` (mean) nodes over the gradients and batch-mean outputs, one per dtype
    (a few for large models), each placed right after the last value it carries is computed; a no-op on one rank."""
    info = g.facts.data_parallel
    if not info or info["size"] <= 1:
        return g
    ghash = graph_hash(g)
    for n in g.nodes:
        if n.op == "dropout":  # per-rank streams: each rank drops different units of its own shard
            n.attrs = {**n.attrs, "seed": _rank_seed(n.attrs["seed"], info["rank"])}
    made = {o.id: o for n in g.nodes for o in n.outputs}
    skip = _constant_derived(g)
    uses: dict[int, int] = {}
    for v in [i for n in g.nodes for i in n.inputs] + list(g.outputs.values()) + list(g.updates.values()):
        uses[v.id] = uses.get(v.id, 0) + 1
    want = []
    for i in info["grads"]:
        if i not in made or i in skip:
            continue
        v, p = made[i], g.producer.get(i)
        # Reduce a gradient where it is computed, not at autodiff's closing identity: its bucket can then go out
        # while the earlier layers' backward still runs.
        if p is not None and p.op == "identity" and uses.get(p.inputs[0].id) == 1 and p.inputs[0].id in made:
            v = p.inputs[0]
        want.append(v)
    means = [g.outputs[k] for k in info["mean_outputs"] if k in g.outputs and g.outputs[k].id in made]
    want += means
    pos = {o.id: k for k, n in enumerate(g.nodes) for o in n.outputs}
    order = sorted(_buckets(want, pos, info.get("bucket_bytes", BUCKET_BYTES)), key=lambda b: max(pos[v.id] for v in b))
    for k, vals in enumerate(order):
        dtype = vals[0].dtype
        at = max(pos[v.id] for v in vals) + 1
        attrs = {"op": "mean", "check_hash": ghash if k == 0 else 0, "batch_dim": info["batch_dim"] if k == 0 else ""}
        prov = Provenance(frozenset().union(*(g.producer[v.id].prov.locations for v in vals)), passes=("data_parallel",))
        tags = frozenset({"collective", "overlap"} if info.get("overlap", OVERLAP) else {"collective"})
        node = g.add_node("all_reduce", tuple(vals), [v.type for v in vals], attrs, prov,
                          name=f"data_parallel/all_reduce_{dtype}", tags=tags)
        g.nodes.pop()
        g.nodes.insert(at, node)
        mapping = {v.id: o for v, o in zip(vals, node.outputs)}
        # Nodes after the bucket read the averaged values: the updates, and the optimizer's non-finite-loss guard,
        # which so skips a step on every rank alike when any rank's loss is NaN (the mean is NaN then).
        for later in g.nodes[at + 1:]:
            if any(v.id in mapping for v in later.inputs):
                later.inputs = tuple(mapping.get(v.id, v) for v in later.inputs)
        g.outputs = {name: mapping.get(v.id, v) for name, v in g.outputs.items()}
        g.updates = {name: mapping.get(v.id, v) for name, v in g.updates.items()}
        pos = {o.id: i for i, n in enumerate(g.nodes) for o in n.outputs}
        g.facts.fired.append({"pattern": "all_reduce", "node": node.name, "pass": "data_parallel",
                              "location": node.location, "tensors": len(vals), "dtype": dtype})
    return g


def data_parallel_pipeline(target: str, passes: Any) -> tuple[list[str], dict[str, Any]]:
    """The pass names for `target` with data_parallel right after autodiff, and the table that knows it."""
    from .pipeline import PASSES, resolve_passes  # here, not at the top: pipeline.py lists passes, not the reverse

    names = resolve_passes(target, passes)
    names.insert(names.index("autodiff") + 1, "data_parallel")
    return names, {**PASSES, "data_parallel": average_gradients}
