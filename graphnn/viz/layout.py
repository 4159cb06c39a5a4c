"""Layered (Sugiyama-style) layout computed in Python: longest-path layering, dummy nodes on long edges,
barycentric crossing reduction, and coordinate assignment by weighted isotonic regression per layer, which
keeps boxes apart by construction while pulling each one over its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RANK_SEP = 46.0  # vertical space between layers
NODE_SEP = 18.0  # horizontal space between boxes of one layer
DUMMY_W = 6.0


@dataclass
class Layout:
    """Box centres, layer of each box, and a polyline per edge (in input order)."""

    pos: dict[str, tuple[float, float]]
    size: dict[str, tuple[float, float]]
    layer: dict[str, int]
    routes: list[list[tuple[float, float]]]
    width: float
    height: float
    order: list[list[str]] = field(default_factory=list)
    edges: list = field(default_factory=list)  # set by callers that map drawn edges back to their model
    ghost: dict[str, str] = field(default_factory=dict)  # ghost box key -> the box it repeats


def _layers(keys: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    preds: dict[str, list[str]] = {k: [] for k in keys}
    succs: dict[str, list[str]] = {k: [] for k in keys}
    for a, b in edges:
        preds[b].append(a)
        succs[a].append(b)
    layer: dict[str, int] = {}
    for k in keys:  # keys come in topological order (graph order)
        layer[k] = max((layer[p] + 1 for p in preds[k]), default=0)
    # A node with more consumers than producers moves down next to its consumers (shorter edges overall).
    for k in reversed(keys):
        real_preds = [p for p in preds[k] if preds[p]]
        if succs[k] and len(succs[k]) > len(real_preds):
            layer[k] = max(layer[k], min(layer[s] for s in succs[k]) - 1)
    # Sources (parameters, inputs) sit just above their first consumer rather than at the top, so their
    # edges stay short.
    for k in keys:
        if not preds[k] and succs[k]:
            layer[k] = max(0, min(layer[s] for s in succs[k]) - 1)
    return layer


def _crossings(upper: list[str], lower: list[str], down: dict[str, list[str]]) -> int:
    pos = {k: i for i, k in enumerate(lower)}
    seq = [pos[b] for a in upper for b in sorted(down[a], key=pos.__getitem__)]
    return sum(1 for i in range(len(seq)) for j in range(i + 1, len(seq)) if seq[i] > seq[j])


def _isotonic(t: list[float], w: list[float]) -> list[float]:
    """Weighted least-squares non-decreasing fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for ti, wi in zip(t, w):
        blocks.append([ti, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for m, _, c in blocks:
        out.extend([m] * int(c))
    return out


def layout(keys: list[str], size: dict[str, tuple[float, float]], edges: list[tuple[str, str]],
           sweeps: int = 10) -> Layout:
    """Lay out a DAG top-down; `keys` must be in topological order."""
    layer = _layers(keys, edges)
    lsize = dict(size)
    down: dict[str, list[str]] = {k: [] for k in keys}
    up: dict[str, list[str]] = {k: [] for k in keys}
    chains: list[list[str]] = []
    for i, (a, b) in enumerate(edges):
        chain = [a]
        for L in range(layer[a] + 1, layer[b]):
            d = f"_d{i}_{L}"
            layer[d] = L
            lsize[d] = (DUMMY_W, 1.0)
            down[d], up[d] = [], []
            chain.append(d)
        chain.append(b)
        for u, v in zip(chain, chain[1:]):
            down[u].append(v)
            up[v].append(u)
        chains.append(chain)
    nl = max(layer.values(), default=-1) + 1
    order: list[list[str]] = [[] for _ in range(nl)]
    for k in keys:
        order[layer[k]].append(k)
    for ch in chains:
        for d in ch[1:-1]:
            order[layer[d]].append(d)
    order = _reduce_crossings(order, down, up, sweeps)
    xs = _assign_x(order, lsize, down, up)
    ys, y = {}, 20.0
    for L in range(nl):
        h = max((lsize[k][1] for k in order[L]), default=0.0)
        for k in order[L]:
            ys[k] = y + h / 2
        y += h + RANK_SEP
    minx = min((xs[k] - lsize[k][0] / 2 for k in xs), default=0.0)
    pos = {k: (xs[k] - minx + 20.0, ys[k]) for k in xs}
    width = max((pos[k][0] + lsize[k][0] / 2 for k in pos), default=0.0) + 20.0
    routes = []
    for ch in chains:
        a, b = ch[0], ch[-1]
        pts = [(pos[a][0], pos[a][1] + size[a][1] / 2)]
        pts += [pos[d] for d in ch[1:-1]]
        pts.append((pos[b][0], pos[b][1] - size[b][1] / 2))
        routes.append(pts)
    return Layout({k: pos[k] for k in keys}, dict(size), {k: layer[k] for k in keys}, routes, width, y, order)


def _reduce_crossings(order: list[list[str]], down: dict, up: dict, sweeps: int) -> list[list[str]]:
    def total(o: list[list[str]]) -> int:
        return sum(_crossings(o[i], o[i + 1], down) for i in range(len(o) - 1))

    best, best_c = [list(l) for l in order], total(order)
    for it in range(sweeps):
        rng = range(1, len(order)) if it % 2 == 0 else range(len(order) - 2, -1, -1)
        nbrs = up if it % 2 == 0 else down
        for L in rng:
            ref = order[L - 1] if it % 2 == 0 else order[L + 1]
            p = {k: i for i, k in enumerate(ref)}
            cur = {k: i for i, k in enumerate(order[L])}

            def bary(k: str, p: dict = p, nbrs: dict = nbrs, cur: dict = cur) -> tuple[float, int]:
                ns = [p[n] for n in nbrs[k] if n in p]
                return (sum(ns) / len(ns) if ns else float(cur[k]), cur[k])

            order[L].sort(key=bary)
        c = total(order)
        if c < best_c:
            best, best_c = [list(l) for l in order], c
    return best


def _assign_x(order: list[list[str]], size: dict, down: dict, up: dict, iters: int = 16) -> dict[str, float]:
    xs: dict[str, float] = {}
    for row in order:
        x = 0.0
        for k in row:
            xs[k] = x + size[k][0] / 2
            x += size[k][0] + NODE_SEP
    for it in range(iters):
        seq = range(len(order)) if it % 2 == 0 else range(len(order) - 1, -1, -1)
        for L in seq:
            row = order[L]
            nb = up if it % 2 == 0 else down
            want, w = [], []
            for k in row:
                ns = [xs[n] for n in nb[k]] or [xs[n] for n in (down if nb is up else up)[k]]
                want.append(sum(ns) / len(ns) if ns else xs[k])
                w.append(4.0 if k.startswith("_d") else 1.0)  # straight long edges matter most
            offs, o = [], 0.0
            for i, k in enumerate(row):
                if i:
                    o += (size[row[i - 1]][0] + size[k][0]) / 2 + NODE_SEP
                offs.append(o)
            fit = _isotonic([t - o for t, o in zip(want, offs)], w)
            for k, f, o in zip(row, fit, offs):
                xs[k] = f + o
    return xs
