"""Remove nodes whose outputs reach no output and no update (the liveness walk itself is `Graph.drop_unneeded`).

Imports only graphnn.ir.
"""

from __future__ import annotations

from ..ir.graph import Graph


def eliminate_dead_code(g: Graph) -> Graph:
    """Keep only nodes (and constants) that contribute to `g.outputs` or `g.updates`. O(n + E)."""
    live = g.drop_unneeded(g.live_ids())
    g.prune_constants(live)
    return g
