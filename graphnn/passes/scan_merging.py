"""Merge each forward scan into the copy its gradient made to keep residuals (the same loop with extra ys), so a
training step runs the forward loop once and the backward loop never recomputes it.

Imports only graphnn.ir.
"""

from __future__ import annotations

import hashlib

from ..ir.graph import Graph, Node


def merge_scans(g: Graph) -> Graph:
    """Replace every scan whose body hash is another scan's `base` (same inputs) by that scan. O(n + E)."""
    ext = {(n.attrs["base"], tuple(v.id for v in n.inputs)): n for n in g.nodes
           if n.op == "scan" and n.attrs.get("base")}
    if not ext:
        return g
    mapping = {}
    moved: dict[int, Node] = {}  # id of the replaced scan -> the extended scan that takes its place
    for n in g.nodes:
        if n.op != "scan":
            continue
        key = (hashlib.sha1(n.attrs["body"].encode()).hexdigest(), tuple(v.id for v in n.inputs))
        big = ext.get(key)
        if big is None or big.id in moved or any(m is big for m in moved.values()):
            continue
        nc = n.attrs["n_carry"]
        ny = len(n.outputs) - 2 * nc
        extra = len(big.outputs) - len(n.outputs)
        for k, o in enumerate(n.outputs):  # finals and ys keep their positions; saved carries come after the extras
            mapping[o.id] = big.outputs[k if k < nc + ny else k + extra]
        moved[n.id] = big
    if not mapping:
        return g
    # The extended scan reads the same inputs, so it can run where the original did (keeping the order topological).
    taken = {m.id for m in moved.values()}
    for n in g.nodes:
        if n.id in moved:
            for o in n.outputs:
                g.producer.pop(o.id, None)
    g.nodes = [moved.get(n.id, n) for n in g.nodes if n.id not in taken]
    g.replace_uses(mapping)
    return g
