"""The verifier run between stages: SSA, topological order, and types re-inferred equal.

Imports nothing else from graphnn except sibling ir modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import GraphError
from .op import InferCtx
from .op_registry import get_op

if TYPE_CHECKING:
    from .graph import Graph


def verify(g: "Graph") -> "Graph":
    """Raise GraphError if `g` is malformed: a value defined twice, used before definition, or mistyped."""
    defined: set[int] = set()
    names: set[str] = set()
    for v in g.inputs + g.params + g.state + g.const_values:
        if v.id in defined:
            raise GraphError(f"value {v.name} defined twice")
        if v.graph is not g:
            raise GraphError(f"value {v.name} belongs to another graph")
        defined.add(v.id)
        names.add(v.name)
    for v in g.const_values:
        if v.id not in g.constants:
            raise GraphError(f"constant {v.name} has no data")
    for p in g.params + g.state:
        if p.name not in g.storage:
            raise GraphError(f"parameter {p.name} has no stored value")
    for n in g.nodes:
        op = get_op(n.op)
        for v in n.inputs:
            if v.id not in defined:
                raise GraphError(f"node {n.name} ({n.op}) at {n.location} uses {v.name} before it is defined (cycle or bad order)")
            if v.graph is not g:
                raise GraphError(f"node {n.name} uses {v.name} from another graph")
        op.check_arity(len(n.inputs))
        try:
            inferred = op.infer(InferCtx(g, n.op), [v.type for v in n.inputs], n.attrs)
        except Exception as e:  # noqa: BLE001 - re-raised as a verifier error naming the node
            raise GraphError(f"node {n.name} ({n.op}) at {n.location} no longer type-checks: {e}") from e
        got = [o.type for o in n.outputs]
        if [g.resolve(t) for t in inferred] != got:
            raise GraphError(f"node {n.name} ({n.op}): stored types {got} != re-inferred {inferred}")
        for o in n.outputs:
            if o.id in defined:
                raise GraphError(f"value {o.name} defined twice")
            if g.producer.get(o.id) is not n:
                raise GraphError(f"producer map wrong for {o.name}")
            defined.add(o.id)
    for name, v in g.outputs.items():
        if v.id not in defined:
            raise GraphError(f"output {name} refers to an undefined value {v.name}")
    for name, v in g.updates.items():
        if v.id not in defined:
            raise GraphError(f"update of {name} refers to an undefined value {v.name}")
        target = g.param(name)
        if target.type != v.type:
            raise GraphError(f"update of {name}: new value {v.name} is {v.type}, parameter is {target.type}")
    return g
