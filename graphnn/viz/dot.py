"""`to_dot`: Graphviz DOT text of a graph with the same information as the HTML page (types on edges,
backward nodes dashed, fused nodes bold with what they replaced, clusters by name scope).
"""

from __future__ import annotations

from typing import Any

from ..ir.graph import Graph
from ..passes.autodiff import expand_gradients
from .model import build

_FILL = {"input": "#e3f2fd", "param": "#fff8e1", "state": "#f3e5f5", "const": "#eeeeee", "output": "#e8f5e9",
         "update": "#fff3e0", "op": "#ffffff"}


def _q(s: Any) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def drawable(g_or_fn: Any) -> Graph:
    """The graph to draw: a compiled function's optimized graph (forward, backward and updates); a graph with
    pending gn.grad requests expanded on a copy (so its backward part is drawn); any other graph as it is."""
    if not isinstance(g_or_fn, Graph):
        if not isinstance(getattr(g_or_fn, "graph", None), Graph):
            raise TypeError(f"expected a gn.Graph or a compiled function, got {type(g_or_fn).__name__}")
        return g_or_fn.graph
    if any(n.op == "grad" for n in g_or_fn.nodes):
        return expand_gradients(g_or_fn.copy())
    return g_or_fn


def to_dot(g: Graph | Any, hide_backward: bool = False, collapse_params: bool = False, cluster: bool = True, *,
           dims: dict[str, int] | None = None, feeds: dict[str, Any] | None = None, rankdir: str = "TB") -> str:
    """Graphviz DOT text of a graph or compiled function (see `drawable`): shapes/dtypes on edges, FLOPs/bytes
    and file:line on op nodes; backward nodes dashed (left out with hide_backward=True)."""
    g = drawable(g)
    dg = build(g, dims=dims, feeds=feeds, collapse_params=collapse_params)
    keep = {k for k, n in dg.nodes.items() if not (hide_backward and "backward" in n.classes)}
    lines = [f"digraph {_q(g.name)} {{", f"  rankdir={rankdir};",
             '  node [fontname="monospace", fontsize=10, style="filled"];', '  edge [fontname="monospace", fontsize=8];']
    scopes: dict[str, list[str]] = {}
    for k in dg.nodes:
        if k in keep:
            scopes.setdefault(dg.nodes[k].scope if cluster else "", []).append(k)
    for i, (scope, keys) in enumerate(scopes.items()):
        indent = "  "
        if scope:
            lines += [f"  subgraph cluster_{i} {{", f"    label={_q(scope)};", '    style="rounded,dashed";']
            indent = "    "
        for k in keys:
            lines.append(indent + _node(dg.nodes[k]))
        if scope:
            lines.append("  }")
    for e in dg.edges:
        if e.src in keep and e.dst in keep:
            style = ', style="dashed", color="#ad1457"' if "backward" in e.classes else ""
            lines.append(f"  {_q(e.src)} -> {_q(e.dst)} [label={_q(e.label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node(n: Any) -> str:
    info = n.info
    if n.kind == "op":
        text = [info["name"] if info["name"] != info["op"] else info["op"], f"op: {info['op']}"]
        text += [f"{k}={v}" for k, v in info["attrs"].items()]
        ft = info["flops_text"]
        text.append(("FLOPs " + ft if ft.startswith("needs") else f"{ft} FLOP") + f", {info['bytes_text']}")
        text.append(info["location"])
        if info.get("fused_from"):
            text.append("fused from " + ", ".join(info["fused_from"]))
        attrs = {"shape": "box", "fillcolor": "#fce4ec" if "backward" in n.classes else _FILL["op"]}
        style = ["filled"] + (["dashed"] if "backward" in n.classes else []) + (["bold"] if "fused" in n.classes else [])
        attrs["style"] = ",".join(style)
        if "fused" in n.classes:
            attrs["penwidth"] = "3"
    else:
        text = [n.label, info.get("type", "")] + ([f"gradient: {info['gradient']}"] if "gradient" in info else [])
        attrs = {"shape": "ellipse" if n.kind in ("input", "param", "state", "const") else "box",
                 "fillcolor": _FILL.get(n.kind, "#ffffff")}
    attrs["label"] = "\n".join(text)
    attrs["tooltip"] = info.get("name", n.key)
    return f"{_q(n.key)} [" + ", ".join(f"{k}={_q(v)}" for k, v in attrs.items()) + "];"
