"""Common-subexpression elimination: nodes with the same op, inputs and attributes compute the same value
(ops that draw random numbers excepted), and equal small constants are one constant.

Imports only graphnn.ir.
"""

from __future__ import annotations

from typing import Any

from ..ir.graph import Graph, Node, Provenance, Value
from ..ir.op_registry import registry

MAX_CONST_KEY = 1024  # elements; larger constants are compared by identity only
# Ops whose result is not a function of their inputs and attributes (Op.random): two calls differ.
IMPURE = frozenset(name for name, op in registry().items() if not op.pure)


def _pure(n: Node) -> bool:
    return n.op not in IMPURE and "seed" not in n.attrs  # a seed attr: a random draw, whatever the op says


def _const_key(g: Graph, v: Value) -> Any:
    a = g.constants[v.id]
    return ("const", a.dtype.name, a.shape, a.tobytes()) if a.size <= MAX_CONST_KEY else ("const-id", v.id)


def eliminate_common_subexpressions(g: Graph) -> Graph:
    """Merge duplicate constants and duplicate pure nodes (the first one stays, with both provenances). One walk
    with a hash table of (op, inputs, attrs) keys: O(n + E) plus the constants' bytes hashed."""
    fired = g.facts.fired
    mapping: dict[int, Value] = {}
    seen_const: dict[Any, Value] = {}
    kept_consts = []
    for c in g.const_values:
        first = seen_const.setdefault(_const_key(g, c), c)
        if first is c:
            kept_consts.append(c)
        else:
            mapping[c.id] = first
    g.const_values = kept_consts
    g.constants = {c.id: g.constants[c.id] for c in kept_consts}
    seen: dict[Any, Node] = {}
    kept = []
    for n in g.nodes:
        ins = tuple(mapping.get(v.id, v) for v in n.inputs)
        if ins != n.inputs:
            n.inputs = ins
        key = (n.op, tuple(v.id for v in ins), tuple(sorted(n.attrs.items(), key=lambda kv: kv[0])))
        try:
            first = seen.get(key) if _pure(n) else None
        except TypeError:  # an unhashable attribute (a subgraph): never merged
            first, key = None, None
        if first is None:
            if key is not None:
                seen.setdefault(key, n)
            kept.append(n)
            continue
        mapping.update({o.id: fo for o, fo in zip(n.outputs, first.outputs)})
        first.prov = first.prov.merge(n.prov, Provenance(derived_from=frozenset({n.id}), passes=("cse",)))
        for o in n.outputs:
            g.producer.pop(o.id, None)
        fired.append({"pattern": "common subexpression", "node": n.name, "op": n.op, "location": n.location,
                      "kept": first.name, "replaced": [n.id], "added": [], "pass": "cse"})
    g.nodes = kept
    g.replace_uses(mapping)
    return g
