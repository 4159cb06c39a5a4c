"""Subgraphs for control-flow ops: tracing a Python function into a branch graph (outer values it closes
over become extra inputs, "captures"), the branch's JSON form kept in node attrs, inlining, and `vjp`.

Imports only sibling ir modules.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import builder
from .builder import apply, as_value, constant
from .errors import GraphError
from .gradutil import backprop
from .graph import Graph, Value
from .op_registry import get_op
from .serialize import from_json, to_dict

# branch graph -> the graph it was traced inside (weak: branch graphs die with their trace)
_parent: weakref.WeakKeyDictionary[Graph, Graph] = weakref.WeakKeyDictionary()


@dataclass
class Branch:
    """A branch being traced: its graph, the graph around it, and the outer values it captured."""

    graph: Graph
    parent: Graph
    captures: list[Value]  # outer values (in `parent`), shared by the sibling branches of one op
    args: list[Value] = field(default_factory=list)
    inner: dict[int, Value] = field(default_factory=dict)  # outer value id -> value inside the branch
    multi: bool = False


_active: list[Branch] = []  # branches being traced, innermost last


def root_graph(g: Graph) -> Graph:
    """The outermost graph `g` is (transitively) a branch of; `g` itself when it is no branch."""
    while g in _parent:
        g = _parent[g]
    return g


def _capture(v: Value, br: Branch) -> Value | None:
    """The value standing for outer value `v` inside branch `br` (an extra input), or None if `v` is foreign."""
    if v.graph is br.graph:
        return v
    if v.id in br.inner:
        return br.inner[v.id]
    outer = v
    if v.graph is not br.parent:  # `v` lives further out: bring it into the parent branch first
        pb = next((b for b in _active if b.graph is br.parent), None)
        outer = _capture(v, pb) if pb is not None else None
        if outer is None:
            return None
        if outer.id in br.inner:
            br.inner[v.id] = br.inner[outer.id]
            return br.inner[v.id]
    if outer.kind == "const":  # constants are copied into the branch rather than passed in
        inner = constant(outer.graph.constants[outer.id], name=outer.name, graph=br.graph)
    else:
        if all(c.id != outer.id for c in br.captures):
            br.captures.append(outer)
        inner = br.graph.new_value(f"capture_{outer.name}", outer.type, "input")
        br.graph.inputs.append(inner)
    br.inner[outer.id] = br.inner[v.id] = inner
    return inner


def _capture_hook(op: Any, inputs: Sequence[Any], attrs: dict, name: str | None) -> Any:
    br = _active[-1] if _active else None
    if br is None or Graph.current() is not br.graph:
        return None
    new, changed = list(inputs), False
    for i, x in enumerate(inputs):
        if isinstance(x, Value) and x.graph is not br.graph:
            c = _capture(x, br)
            if c is not None:
                new[i], changed = c, True
    return apply(op.name, new, attrs, name=name) if changed else None


def trace_branch(fn: Callable[..., Any], operands: Sequence[Value], parent: Graph, captures: list[Value],
                 label: str) -> Branch:
    """Run `fn` once on fresh inputs typed like `operands`, recording its ops into a new branch graph."""
    g = Graph(label)
    _parent[g] = parent
    br = Branch(g, parent, captures)
    br.args = [g.new_value(f"arg{i}", v.type, "input") for i, v in enumerate(operands)]
    g.inputs.extend(br.args)
    _active.append(br)
    builder.trace_stack.append(f"branch {label}")
    if _capture_hook not in builder.apply_hooks:
        builder.apply_hooks.insert(0, _capture_hook)
    try:
        with g:
            out = fn(*br.args)
            br.multi = isinstance(out, (tuple, list))
            outs = list(out) if br.multi else [out]
            for i, o in enumerate(outs):
                if not isinstance(o, Value):
                    o = as_value(o, None, g)
                if o.graph is not g:  # an outer (or eager) value returned as is: route it through the hooks
                    o = apply("identity", [o])[0]
                g.output(f"out{i:04d}", o)  # zero-padded: the JSON form sorts output names
    finally:
        _active.pop()
        builder.trace_stack.pop()
        if not _active:
            builder.apply_hooks.remove(_capture_hook)
    if g.params or g.state:
        raise GraphError(f"branch {label} creates parameters ({', '.join(p.name for p in g.params + g.state)}); "
                         "create them outside the branch function and close over them")
    if any(n.op == "grad" for n in g.nodes):
        raise GraphError(f"branch {label} calls gn.grad; take gradients outside gn.cond")
    return br


def finalize(br: Branch) -> None:
    """Fix the branch's input order: operands, then every capture of the op (unused ones included)."""
    for c in br.captures:
        if c.id not in br.inner:
            v = br.graph.new_value(f"capture_{c.name}", c.type, "input")
            br.inner[c.id] = v
    br.graph.inputs = br.args + [br.inner[c.id] for c in br.captures]


def encode(g: Graph) -> str:
    """The branch graph as a compact JSON string: frozen, hashable, survives Graph.copy and serialization."""
    return json.dumps(to_dict(g, include_values=False), sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=256)
def decode(text: str) -> Graph:
    """The branch graph of an encoded attr (cached; treat it as read-only)."""
    return from_json(text)


def inline(g: Graph, inputs: Sequence[Value]) -> list[Value]:
    """Re-apply the nodes of `g` to `inputs` in the current graph; returns the values of g's outputs."""
    m = inline_map(g, inputs)
    return [m[v.id] for v in g.outputs.values()]


def inline_map(g: Graph, inputs: Sequence[Value]) -> dict[int, Any]:
    """`inline`, returning the map from every value id of `g` to the value standing for it now."""
    if len(inputs) != len(g.inputs):
        raise GraphError(f"inline {g.name}: {len(g.inputs)} inputs expected, got {len(inputs)}")
    target = next((x.graph for x in inputs if isinstance(x, Value)), None) or Graph.current()
    m: dict[int, Any] = {bi.id: v for bi, v in zip(g.inputs, inputs)}
    for c in g.const_values:
        m[c.id] = constant(g.constants[c.id], name=c.name, graph=target)
    for n in g.nodes:
        outs = apply(n.op, [m[v.id] for v in n.inputs], n.attrs)
        m.update({o.id: r for o, r in zip(n.outputs, outs)})
    return m


def vjp_residuals(g: Graph, seeded: Sequence[int], wrt: Sequence[int]) -> list[tuple[int, int]]:
    """The (node index, output index) of every value of `g` its vector-Jacobian product reads (outputs
    `seeded` seeded, inputs `wrt` differentiated): what a forward pass must keep so a backward never recomputes."""
    probe = Graph(f"{g.name}_probe")
    with probe:
        args = [probe.new_value(f"arg{i}", v.type, "input") for i, v in enumerate(g.inputs)]
        probe.inputs.extend(args)
        m = inline_map(g, args)
        first = len(probe.nodes)
        outs = [m[v.id] for v in g.outputs.values()]
        seeds = [probe.new_value(f"seed{k}", outs[k].type, "input") for k in seeded]
        grads = vjp([outs[k] for k in seeded], seeds, [args[i] for i in wrt])
    # Only the gradient nodes the results need count (a rule also emits gradients of constants, which die).
    live = {gv.id for gv in grads if gv is not None}
    read: set[int] = set(live)
    for n in reversed(probe.nodes[first:]):
        if any(o.id in live for o in n.outputs):
            live.update(v.id for v in n.inputs)
            read.update(v.id for v in n.inputs)
    return [(i, j) for i, n in enumerate(g.nodes) for j, o in enumerate(n.outputs) if m[o.id].id in read]


def vjp(ys: Sequence[Value], gys: Sequence[Value | None], xs: Sequence[Value]) -> list[Value | None]:
    """Reverse-mode walk from `ys` (seeded with `gys`) back to `xs` over one graph, using the ops' rules.

    The autodiff pass does the same for whole graphs; ops with subgraphs (cond) need it inside a rule.
    """
    g = ys[0].graph
    reach = {x.id for x in xs}
    path = []
    for n in g.nodes:
        if any(v.id in reach for v in n.inputs) and n.op != "stop_gradient" and get_op(n.op).nondiff is None:
            path.append(n)
            reach.update(o.id for o in n.outputs if o.type.is_float)
    grads: dict[int, Any] = {}
    for y, gy in zip(ys, gys):
        if gy is not None:
            grads[y.id] = gy if y.id not in grads else grads[y.id] + gy
    backprop(path, grads)
    return [grads.get(x.id) for x in xs]
