"""Textual IR: one line per node with op, attributes, inputs, output types, tags and the user's line.

Imports nothing else from graphnn except sibling ir modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .graph import Graph


def _fmt_attr(v: object) -> str:
    if isinstance(v, tuple):
        return "(" + ",".join(_fmt_attr(x) for x in v) + ")"
    return repr(v) if isinstance(v, str) else str(v)


def _const_repr(a: np.ndarray) -> str:
    if a.size <= 4:
        return np.array2string(a, separator=",", threshold=4).replace("\n", "")
    return f"<{a.size} values>"


def format_graph(g: "Graph") -> str:
    lines = [f"graph {g.name} {{"]
    for v in g.inputs:
        lines.append(f"  input  {v.name}: {v.type}")
    for v in g.params:
        info = g.param_info.get(v.name)
        extra = "" if info is None or info.trainable else "  [frozen]"
        lines.append(f"  param  {v.name}: {v.type}{extra}")
    for v in g.state:
        lines.append(f"  state  {v.name}: {v.type}")
    for v in g.const_values:
        lines.append(f"  const  {v.name}: {v.type} = {_const_repr(g.constants[v.id])}")
    body = []
    for n in g.nodes:
        outs = ", ".join(f"%{o.name}" for o in n.outputs)
        ins = ", ".join(("%" if v.kind == "node" else "") + v.name for v in n.inputs)
        attrs = ", ".join(f"{k}={_fmt_attr(v)}" for k, v in n.attrs.items() if k != "subgraph")
        types = ", ".join(str(o.type) for o in n.outputs)
        tags = f" [{','.join(sorted(n.tags))}]" if n.tags else ""
        text = f"  {outs} = {n.op}({ins})" + (f" {{{attrs}}}" if attrs else "") + f" : {types}{tags}"
        body.append((text, n.location))
    width = max((len(t) for t, _ in body), default=0)
    lines += [f"{t.ljust(width)}  # {loc}" for t, loc in body]
    for name, v in g.outputs.items():
        lines.append(f"  output {name} = {'%' if v.kind == 'node' else ''}{v.name}")
    pending = sum(1 for n in g.nodes if n.op == "grad")
    if pending:
        lines.append(f"  # {pending} gradient request(s): gn.compile expands them into backward nodes "
                     "(print(fn.graph) shows them; gn.grad(..., expand=True) expands here)")
    lines.append("}")
    return "\n".join(lines)
