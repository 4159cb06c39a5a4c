"""The layered layout: no two boxes overlap (checked geometrically), edges point down and are mostly short,
and crossing reduction helps."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.viz.demo import demo_mlp
from graphnn.viz.layout import _crossings, layout
from graphnn.viz.model import build
from graphnn.viz.svg import lay_out


def _overlaps(lay) -> list:
    boxes = {k: (x - lay.size[k][0] / 2, y - lay.size[k][1] / 2, x + lay.size[k][0] / 2, y + lay.size[k][1] / 2)
             for k, (x, y) in lay.pos.items()}
    bad = []
    for (a, ba), (b, bb) in itertools.combinations(boxes.items(), 2):
        if ba[0] < bb[2] and bb[0] < ba[2] and ba[1] < bb[3] and bb[1] < ba[3]:
            bad.append((a, b))
    return bad


@pytest.mark.parametrize("sizes,passes", [((784, 256, 128, 10), "none"), ((64, 48, 32, 16, 10), "none"),
                                          ((784, 256, 128, 10), "default")])
def test_mlp_with_backward_and_updates_is_readable(sizes: tuple, passes: str) -> None:
    g, parts = demo_mlp(sizes)
    fn = gn.compile(g, outputs={"loss": parts["loss"]}, updates=parts["updates"], passes=passes)
    dg = build(fn.graph, show_scalars=True)
    assert len(dg.nodes) >= (100 if passes == "none" else 50)
    assert any("backward" in n.classes for n in dg.nodes.values())
    assert any("update" in n.classes for n in dg.nodes.values())
    lay = lay_out(dg)
    assert set(lay.pos) == set(dg.nodes) | set(lay.ghost)
    assert all(dg.nodes[o].kind in ("input", "param", "state", "const") for o in lay.ghost.values())
    assert _overlaps(lay) == []
    assert [e for e, _ in lay.edges] == dg.edges
    spans = [lay.layer[b] - lay.layer[a] for _, (a, b) in lay.edges]
    assert min(spans) >= 1  # every edge points down
    short = sum(s <= 2 for s in spans) / len(spans)
    assert short >= 0.85, f"only {short:.0%} of edges span <= 2 layers"
    assert len(lay.routes) == len(lay.edges)  # one polyline per edge
    for route in lay.routes:  # polylines start under their source and end above their target
        assert all(y1 > y0 for (_, y0), (_, y1) in zip(route, route[1:]))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 25), st.data())
def test_random_dags_never_overlap(n: int, data: st.DataObject) -> None:
    keys = [f"k{i}" for i in range(n)]
    edges = sorted({(keys[a], keys[b]) for a, b in data.draw(st.lists(
        st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda t: t[0] < t[1]), max_size=3 * n))})
    sizes = {k: (data.draw(st.floats(10, 200)), 30.0) for k in keys}
    lay = layout(keys, sizes, edges)
    assert _overlaps(lay) == []
    assert all(lay.layer[b] > lay.layer[a] for a, b in edges)


def test_crossing_reduction_untangles_a_twisted_bipartite_graph() -> None:
    keys = ["a0", "a1", "a2", "b2", "b1", "b0"]  # initial order crosses every edge pair
    edges = [("a0", "b0"), ("a1", "b1"), ("a2", "b2")]
    lay = layout(keys, {k: (40.0, 30.0) for k in keys}, edges)
    down = {k: [b for a, b in edges if a == k] for k in lay.pos}
    assert _crossings(lay.order[0], lay.order[1], down) == 0
