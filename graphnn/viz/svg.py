"""Render a laid-out DrawGraph as SVG markup: one `<g class="node">` per box, one `<path>` per edge.
"""

from __future__ import annotations

from html import escape

from .layout import Layout, _layers, layout
from .model import DrawGraph

CHAR_W = 6.6  # px per character at the label font size (monospace 11px)
BOX_H = 34.0


def box_size(n) -> tuple[float, float]:
    """Width from the longer of the two label lines; fixed height."""
    sub = n.info.get("outputs", [n.info.get("type", "")])
    sub = sub[0].split(": ", 1)[-1] if sub else ""
    return max(len(n.label) * CHAR_W, len(sub) * CHAR_W * 0.85) + 16.0, BOX_H


SOURCES = ("input", "param", "state", "const")
GHOST_SPAN = 3  # a source feeding a box more layers below than this gets a copy (ghost) drawn next to it


def lay_out(dg: DrawGraph, keys: list[str] | None = None, ghosts: bool = True) -> Layout:
    """Layout of the boxes `keys` (default all) and the edges between them. A parameter read both by the
    forward pass and far below (by its update) is drawn again, as a ghost box, next to the far reader."""
    keys = list(keys) if keys is not None else list(dg.nodes)
    ks = set(keys)
    drawn = [e for e in dg.edges if e.src in ks and e.dst in ks]
    pairs = [(e.src, e.dst) for e in drawn]
    ghost: dict[str, str] = {}
    if ghosts:
        layer = _layers(keys, pairs)
        first: dict[str, int] = {}
        for a, b in pairs:
            if dg.nodes[a].kind in SOURCES:
                first[a] = min(first.get(a, 1 << 30), layer[b])
        for i, (a, b) in enumerate(pairs):
            if a in first and layer[b] - first[a] > GHOST_SPAN:
                gk = f"{a}~{b}"
                ghost[gk] = a
                pairs[i] = (gk, b)
        keys = list(ghost) + keys  # ghosts have no producers: first keeps the order topological
    lay = layout(keys, {k: box_size(dg.nodes[ghost.get(k, k)]) for k in keys}, pairs)
    lay.edges = list(zip(drawn, pairs))
    lay.ghost = ghost
    return lay


def _path(pts: list[tuple[float, float]]) -> str:
    (x0, y0), d = pts[0], [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    for x1, y1 in pts[1:]:
        dy = (y1 - y0) / 2
        d.append(f"C{x0:.1f},{y0 + dy:.1f} {x1:.1f},{y1 - dy:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(d)


def render(dg: DrawGraph, lay: Layout, view: int, dx: float = 0.0, part: bool = False) -> str:
    """SVG group for one view (or, with `part`, for one part of a view); element ids are `v<view>-<key>`."""
    out = ['<g class="part">' if part else f'<g class="view" id="view{view}" data-view="{view}">']
    out.append('<g class="edges">')
    for (e, _), route in zip(lay.edges, lay.routes):
        pts = [(x + dx, y) for x, y in route]
        cls = " ".join(sorted(e.classes))
        out.append(f'<path class="edge {cls}" d="{_path(pts)}" data-src="{e.src}" data-dst="{e.dst}">'
                   f"<title>{escape(e.label)}</title></path>")
        mx, my = pts[len(pts) // 2] if len(pts) > 2 else ((pts[0][0] + pts[1][0]) / 2, (pts[0][1] + pts[1][1]) / 2)
        out.append(f'<text class="elabel {cls}" x="{mx + 3:.1f}" y="{my:.1f}">{escape(e.label)}</text>')
    out.append("</g><g class=\"nodes\">")
    for k, (x, y) in lay.pos.items():
        n = dg.nodes[lay.ghost.get(k, k)]
        w, h = lay.size[k]
        cls = ("ghost " if k in lay.ghost else "node ") + " ".join(sorted(n.classes | {n.kind}))
        sub = n.info.get("outputs", [n.info.get("type", "")])
        sub = sub[0].split(": ", 1)[-1] if sub else ""
        out.append(
            f'<g class="{cls}" id="v{view}-{escape(k)}" data-key="{escape(n.key)}" '
            f'transform="translate({x + dx - w / 2:.1f},{y - h / 2:.1f})">'
            f'<rect width="{w:.1f}" height="{h:.1f}" rx="{h / 2 if n.kind != "op" else 4:.0f}"/>'
            f'<text class="l1" x="{w / 2:.1f}" y="14">{escape(n.label)}</text>'
            f'<text class="l2" x="{w / 2:.1f}" y="27">{escape(sub)}</text>'
            f"<title>{escape(n.info.get('name', k))}</title></g>")
    out.append("</g></g>")
    return "".join(out)
