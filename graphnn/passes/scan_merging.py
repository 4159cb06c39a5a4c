"""Merge each forward scan into the copy its gradient made to keep residuals (the same loop with extra ys), so a
training step runs the forward loop once and the backward loop never recomputes it.

Imports only graphnn.ir.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from ..ir.graph import Graph, Node


def merge_scans(g: Graph) -> Graph:
    """Replace every scan whose body hash is another scan's `base` (same inputs) by that scan. O(n + E) per
    round; a chain (a gradient of a gradient extends the extension) takes one round per link. Then a scan whose
    stacked saved carries nobody reads (no gradient goes through it) is told not to stack them."""
    while _merge_once(g):
        pass
    _drop_unread_saves(g)
    return g


def _drop_unread_saves(g: Graph) -> None:
    """After autodiff no pass adds readers, so a saved output unread now stays unread. O(n + E)."""
    read = {v.id for n in g.nodes for v in n.inputs} | g.live_ids()
    for i, n in enumerate(g.nodes):
        if n.op != "scan" or not n.attrs.get("keep_saved", True):
            continue
        if not any(o.id in read for o in n.outputs[len(n.outputs) - n.attrs["n_carry"]:]):
            g.nodes[i] = replace(n, attrs={**n.attrs, "keep_saved": False})  # a new node: copies share attrs
            for o in n.outputs:
                g.producer[o.id] = g.nodes[i]


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
