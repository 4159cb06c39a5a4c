"""Remove nodes whose outputs reach no output and no update.

Imports only graphnn.ir.
"""

from __future__ import annotations

from ..ir.graph import Graph


def drop_unneeded(g: Graph, live: set[int], first: int = 0) -> set[int]:
    """Drop the nodes of `g.nodes[first:]` whose outputs reach no value in `live` (one backward walk, which
    adds the kept nodes' inputs to `live`); returns the grown `live` set."""
    kept = []
    for n in reversed(g.nodes[first:]):
        if any(o.id in live for o in n.outputs):
            kept.append(n)
            live.update(v.id for v in n.inputs)
        else:
            for o in n.outputs:
                g.producer.pop(o.id, None)
    g.nodes[first:] = reversed(kept)
    return live


def eliminate_dead_code(g: Graph) -> Graph:
    """Keep only nodes that contribute to `g.outputs` or `g.updates`."""
    live = drop_unneeded(g, {v.id for v in list(g.outputs.values()) + list(g.updates.values())})
    used = {v.id for n in g.nodes for v in n.inputs} | live
    g.const_values = [c for c in g.const_values if c.id in used]
    g.constants = {c.id: g.constants[c.id] for c in g.const_values}
    return g
