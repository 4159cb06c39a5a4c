"""The drawable form of a graph: boxes (sources, ops, output and update sinks) and typed edges, with costs,
provenance and gradient status attached. Both the DOT and the HTML drawings start from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..ir.graph import Graph, Node, Value
from .costs import bind_dims, graph_costs, human
from .gradflow import gradient_flow


@dataclass
class DrawNode:
    """One box of the drawing."""

    key: str
    label: str
    kind: str  # input | param | state | const | op | output | update
    classes: set[str] = field(default_factory=set)
    info: dict[str, Any] = field(default_factory=dict)  # what the detail panel shows
    scope: str = ""
    node_id: int | None = None  # the IR node (or value) id this box stands for


@dataclass
class DrawEdge:
    """One value flowing from a box to a consumer box."""

    src: str
    dst: str
    label: str
    classes: set[str] = field(default_factory=set)
    status: str = ""


@dataclass
class DrawGraph:
    name: str
    nodes: dict[str, DrawNode]
    edges: list[DrawEdge]
    totals: dict[str, Any]


def _vkey(v: Value) -> str:
    return f"v{v.id}"


def _is_scalar_const(v: Value) -> bool:
    return v.kind == "const" and v.ndim == 0


def _update_only(g: Graph) -> set[int]:
    """Ids of forward nodes that only feed parameter updates (optimizer arithmetic), not outputs, and of nodes
    that only read what the optimizer computed (a NaN guard's probe)."""
    prod = g.producer

    def ancestors(roots: list[Value]) -> set[int]:
        seen: set[int] = set()
        stack = [prod[v.id] for v in roots if v.id in prod]
        while stack:
            n = stack.pop()
            if n.id in seen:
                continue
            seen.add(n.id)
            stack.extend(prod[v.id] for v in n.inputs if v.id in prod)
        return seen

    # Outputs named "_..." are the runtime's own (the trainer's NaN-guard probe reads every updated value):
    # what feeds only them and the updates is optimizer work too.
    user = [v for k, v in g.outputs.items() if not k.startswith("_")]
    upd = ancestors(list(g.updates.values())) - ancestors(user)
    seen_user = ancestors(user)
    for n in g.nodes:
        ins = [prod[v.id].id for v in n.inputs if v.id in prod]
        if n.id not in upd and n.id not in seen_user and ins and all(i in upd for i in ins):
            upd.add(n.id)
    return upd


def type_text(t: Any, env: dict[str, int], named: dict[str, str] | None = None) -> str:
    """`float32[batch=32,784]`: a bound symbolic dim shows its name and size (a bound anonymous leading dim of an
    input is named batch), an unbound one its name."""
    shape = getattr(t, "shape", None)
    if shape is None:
        return str(t)
    parts = []
    for d in shape:
        if isinstance(d, str):
            nm = (named or {}).get(d, d)
            parts.append(f"{nm}={env[d]}" if d in env else nm)
        else:
            parts.append(str(d))
    return f"{t.dtype}[{','.join(parts)}]"


def flops_text(f: int | None) -> str:
    """A FLOP count, or "needs --dims" when a symbolic dim is unbound (never a misleading 0)."""
    return "needs --dims" if f is None else human(f)


def _fmt_attr(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def build(g: Graph, *, dims: dict[str, int] | None = None, feeds: dict[str, Any] | None = None,
          collapse_params: bool = False, show_scalars: bool = False, loss: Value | None = None,
          origins: dict[int, str] | None = None, known: set[str] | None = None) -> DrawGraph:
    """The drawable form of `g`; `dims`/`feeds` bind symbolic dims for the cost annotations; `origins`
    describes nodes of earlier graphs (id -> "op name at file:line") that provenance points to; op boxes whose key
    is in `known` (drawn already, in another snapshot) get only their kind and classes."""
    env = bind_dims(g, dims, feeds)
    named = {v.type.shape[0]: "batch" for v in g.inputs if v.type.shape  # an anonymous leading dim is the batch
             and isinstance(v.type.shape[0], str) and v.type.shape[0].startswith("?") and v.type.shape[0] in env}

    def tt(t: Any) -> str:
        return type_text(t, env, named)

    costs = graph_costs(g, env)
    flow = gradient_flow(g, loss)
    upd_only = _update_only(g)
    nodes: dict[str, DrawNode] = {}
    edges: list[DrawEdge] = []
    folded: dict[int, str] = {}  # value id of a folded source -> its text
    read = {v.id for n in g.nodes for v in n.inputs} | {v.id for v in list(g.outputs.values()) + list(g.updates.values())}
    for v in g.inputs + g.params + g.state + g.const_values:
        if v.kind == "state" and v.id not in read and v.name not in g.updates:
            continue  # a mode-only leftover (the dropout step counter of an eval graph): nothing reads it
        if _is_scalar_const(v) and not show_scalars:
            folded[v.id] = f"{g.constants[v.id].item():.4g}"
            continue
        if collapse_params and v.kind in ("param", "state"):
            folded[v.id] = v.name
            continue
        info = {"name": v.name, "kind": v.kind, "type": tt(v.type)}
        cls = {v.kind}
        if v.kind in ("param", "state"):
            st = flow["params"].get(v.name, "frozen" if v.kind == "state" else "disconnected")
            info["gradient"] = st
            cls.add("g-" + st)
            pi = g.param_info.get(v.name)
            if pi is not None and pi.init is not None:
                info["init"] = str(pi.init)
        nodes[_vkey(v)] = DrawNode(_vkey(v), v.name, v.kind, cls, info, "", v.id)
    here = {m.id for m in g.nodes}
    for n in g.nodes:
        if known and f"n{n.id}" in known:
            cls = {"op"} | set(n.tags) | ({"update"} if n.id in upd_only else set())
            nodes[f"n{n.id}"] = DrawNode(f"n{n.id}", n.op, "op", cls, {}, n.scope, n.id)
            continue
        nodes[f"n{n.id}"] = _op_node(g, n, costs["nodes"][n.id], folded, upd_only, tt)
        gone = [origins[i] for i in sorted(n.prov.derived_from) if i not in here and origins and i in origins]
        if gone:
            nodes[f"n{n.id}"].info["origins"] = gone
    for n in g.nodes:
        for v in n.inputs:
            if v.id in folded:
                continue
            src = f"n{g.producer[v.id].id}" if v.id in g.producer else _vkey(v)
            st = flow["edges"].get((v.id, n.id), "none")
            cls = {"e-" + st} | ({"backward"} if "backward" in nodes[f"n{n.id}"].classes else set())
            if "update" in nodes[f"n{n.id}"].classes:
                cls.add("update")
            edges.append(DrawEdge(src, f"n{n.id}", tt(v.type), cls, st))
    for kind, table in (("output", g.outputs), ("update", g.updates)):
        for name, v in table.items():
            key = f"{kind[0]}:{name}"
            cls = {kind} | ({"update"} if kind == "update" else set())
            nodes[key] = DrawNode(key, ("⇒ " if kind == "update" else "→ ") + name, kind, cls,
                                  {"name": f"{kind} {name}", "kind": kind, "type": tt(v.type), "value": v.name})
            src = f"n{g.producer[v.id].id}" if v.id in g.producer else _vkey(v)
            if src in nodes:
                edges.append(DrawEdge(src, key, tt(v.type), set(cls)))
    totals = {k: costs[k] for k in ("total_flops", "total_bytes", "param_bytes", "unbound_nodes", "env")}
    unb = costs["unbound_nodes"]
    ftxt = (f"FLOPs need --dims ({unb} ops have unbound dims)" if unb and not costs["total_flops"] else
            f"{human(costs['total_flops'])}FLOP" + (f" (+{unb} ops need --dims)" if unb else ""))
    totals["text"] = (f"{len(g.nodes)} ops · {ftxt} · {human(costs['total_bytes'])}B "
                      f"activations · {human(costs['param_bytes'])}B params")
    return DrawGraph(g.name, nodes, edges, totals)


def _op_node(g: Graph, n: Node, cost: dict[str, Any], folded: dict[int, str], upd_only: set[int],
             tt: Any = str) -> DrawNode:
    cls = {"op"} | set(n.tags)
    if n.id in upd_only:
        cls.add("update")
    fused = "fused" in n.tags or n.op.startswith("fused")
    if fused:
        cls.add("fused")
    consts = [f"{v.name}={folded[v.id]}" for v in n.inputs if v.id in folded]
    label = n.op + (f" {', '.join(folded[v.id] for v in n.inputs if v.id in folded)}" if consts else "")
    if n.attrs.get("body"):  # a fused elementwise chain: name its members
        label = "fused " + "+".join(str(step[0]) for step in n.attrs["body"])
    if len(label) > 28:
        label = label[:27] + "…"
    info: dict[str, Any] = {
        "name": n.name, "op": n.op, "kind": "op",
        "attrs": {k: _fmt_attr(a) for k, a in n.attrs.items()},
        "location": n.location, "tags": sorted(n.tags), "scope": n.scope,
        "inputs": [f"{v.name}: {tt(v.type)}" for v in n.inputs],
        "outputs": [f"{v.name}: {tt(v.type)}" for v in n.outputs],
        "flops": cost["flops"], "bytes": cost["bytes"],
        "flops_text": flops_text(cost["flops"]),
        "bytes_text": human(cost["bytes"], "B") if cost["bytes"] is not None else "needs --dims",
        "provenance": n.prov.to_json(),
    }
    if consts:
        info["constants"] = consts
    if "algorithm" in cost:  # convolutions: how the kernel runs it and in which layout
        info["algorithm"] = cost["algorithm"]
    derived = [f"n{i}" for i in sorted(n.prov.derived_from)]
    info["derived_from"] = derived
    if fused:
        info["fused_from"] = derived
    return DrawNode(f"n{n.id}", label, "op", cls, info, n.scope, n.id)
