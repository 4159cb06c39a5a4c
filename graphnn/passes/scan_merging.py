"""Merge each forward scan into the copy its gradient made to keep residuals (the same loop with extra ys), so a
training step runs the forward loop once and the backward loop never recomputes it.

Imports only graphnn.ir.
"""

from __future__ import annotations

import hashlib

from ..ir.graph import Graph, Node


def merge_scans(g: Graph) -> Graph:
    """Replace every scan whose body hash is another scan's `base` (same inputs) by that scan. O(n + E) per
    round; a chain (a gradient of a gradient extends the extension) takes one round per link."""
    while _merge_once(g):
        pass
    return g


def _merge_once(g: Graph) -> bool:
    ext = {(n.attrs["base"], tuple(v.id for v in n.inputs)): n for n in g.nodes
           if n.op == "scan" and n.attrs.get("base")}
    if not ext:
        return False
    pairs: dict[int, tuple[Node, Node]] = {}
    claimed: set[int] = set()  # one original per extension (duplicates are CSE's business)
    for n in g.nodes:
        if n.op == "scan":
            big = ext.get((hashlib.sha1(n.attrs["body"].encode()).hexdigest(), tuple(v.id for v in n.inputs)))
            if big is not None and big is not n and big.id not in claimed:
                pairs[n.id] = (n, big)
                claimed.add(big.id)
    # A scan that is itself extended further merges first; its own smaller copy waits for the next round.
    pairs = {k: (n, big) for k, (n, big) in pairs.items() if big.id not in pairs}
    if not pairs:
        return False
    mapping = {}
    for n, big in pairs.values():
        nc = n.attrs["n_carry"]
        ny = len(n.outputs) - 2 * nc
        extra = len(big.outputs) - len(n.outputs)
        for k, o in enumerate(n.outputs):  # finals and ys keep their positions; saved carries come after the extras
            mapping[o.id] = big.outputs[k if k < nc + ny else k + extra]
            g.producer.pop(o.id, None)
    # The extended scan reads the same inputs, so it can run where the original did (keeping the order topological).
    taken = {big.id for _, big in pairs.values()}
    g.nodes = [pairs[n.id][1] if n.id in pairs else n for n in g.nodes if n.id not in taken]
    g.replace_uses(mapping)
    return True
