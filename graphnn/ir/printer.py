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


_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "div": ("/", 2), "pow": ("**", 4),
          "greater": (">", 0), "less": ("<", 0), "greater_equal": (">=", 0), "less_equal": ("<=", 0),
          "equal": ("==", 0)}  # symbol, precedence (Python's)
_ATOM = 9
_ALIGN = 100  # `# file:line` comments line up up to this column; longer lines put theirs two spaces after


def format_body(body: tuple) -> str:
    """A fused_elementwise body as one expression over its inputs, e.g. `relu(0.5 * in0 + in1)`."""
    exprs: list[tuple[str, int]] = []  # (text, precedence of its outermost operator)

    def arg(a: tuple) -> tuple[str, int]:
        if a[0] == "in":
            return f"in{a[1]}", _ATOM
        if a[0] == "t":
            return exprs[a[1]]
        return f"{a[1]:.4g}", _ATOM

    for op, attrs, args in body:
        parts = [arg(a) for a in args]
        if op in _INFIX and len(parts) == 2:
            sym, prec = _INFIX[op]
            (lt, lp), (rt, rp) = parts
            left = f"({lt})" if lp < prec or (lp == prec and op == "pow") else lt
            # equal precedence on the right needs parentheses unless the op is associative (a + (b + c))
            right = f"({rt})" if rp < prec or (rp == prec and op not in ("add", "mul")) else rt
            exprs.append((f"{left} {sym} {right}", prec))
        elif op == "neg" and len(parts) == 1:
            t, p = parts[0]
            exprs.append((f"-({t})" if p < 3 else f"-{t}", 3))
        else:
            extra = [f"{k}={_fmt_attr(v)}" for k, v in attrs]
            exprs.append((f"{op}({', '.join([t for t, _ in parts] + extra)})", _ATOM))
    text = exprs[-1][0] if exprs else ""
    if len(text) > 120:  # a long chain reads better as its member ops
        text = "+".join(op for op, _, _ in body)
    return text


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
        attrs = ", ".join(f"body: {format_body(v)}" if n.op == "fused_elementwise" and k == "body"
                          else f"{k}={_fmt_attr(v)}" for k, v in n.attrs.items()
                          if k != "subgraph" and not (n.op == "scan" and k in ("body", "base")))  # JSON: body_nodes says
        types = ", ".join(str(o.type) for o in n.outputs)
        tags = f" [{','.join(sorted(n.tags))}]" if n.tags else ""
        text = f"  {outs} = {n.op}({ins})" + (f" {{{attrs}}}" if attrs else "") + f" : {types}{tags}"
        body.append((text, n.location))
    width = min(max((len(t) for t, _ in body), default=0), _ALIGN)
    lines += [f"{t.ljust(width)}  # {loc}" for t, loc in body]
    for name, v in g.outputs.items():
        lines.append(f"  output {name} = {'%' if v.kind == 'node' else ''}{v.name}")
    pending = sum(1 for n in g.nodes if n.op == "grad")
    if pending:
        lines.append(f"  # {pending} gradient request(s): gn.compile expands them into backward nodes "
                     "(print(fn.graph) shows them; gn.grad(..., expand=True) expands here)")
    lines.append("}")
    return "\n".join(lines)
