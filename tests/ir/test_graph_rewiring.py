"""Graph's rewiring and liveness methods (replace_uses with and without a use index, drop_unneeded,
prune_constants), its typed facts, and unique_name's counters, checked against hand-built expectations."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.ir.graph import GraphFacts, add_uses, drop_uses


def _chain() -> tuple[gn.Graph, dict[str, gn.Value]]:
    with gn.Graph("chain") as g:
        x = gn.input("x", (3,), "float32")
        a = gn.exp(x)
        b = gn.log(x)
        c = a + a
        d = c * b
        g.output("d", d)
    return g, {"x": x, "a": a, "b": b, "c": c, "d": d}


def _inputs(g: gn.Graph) -> dict[str, list[str]]:
    return {n.name: [v.name for v in n.inputs] for n in g.nodes}


def test_replace_uses_walk_and_index_agree_and_rewire_outputs() -> None:
    for indexed in (False, True):
        g, v = _chain()
        uses = g.use_index() if indexed else None
        g.replace_uses({v["a"].id: v["b"]}, uses)
        assert _inputs(g)[v["c"].name] == [v["b"].name, v["b"].name]
        assert _inputs(g)[v["d"].name] == [v["c"].name, v["b"].name]
        g.replace_uses({v["d"].id: v["c"]}, uses)
        assert g.outputs["d"] is v["c"]
        if indexed:  # the index followed the rewiring: b is now read by c and d
            assert set(uses[v["b"].id]) == {v["c"].producer.id, v["d"].producer.id}
            assert v["a"].id not in uses
            assert uses == g.use_index()


def test_use_index_add_and_drop() -> None:
    g, v = _chain()
    uses = g.use_index()
    node_d = v["d"].producer
    drop_uses(uses, node_d)
    assert v["c"].id not in uses and v["b"].id not in uses  # d was their only reader: entries go
    add_uses(uses, node_d)
    assert uses == g.use_index()


def test_drop_unneeded_keeps_what_reaches_live_values() -> None:
    g, v = _chain()
    live = g.drop_unneeded({v["c"].id})
    assert [n.outputs[0].name for n in g.nodes] == [v["a"].name, v["c"].name]
    assert live == {v["c"].id, v["a"].id, v["x"].id}
    assert v["d"].id not in g.producer and v["b"].id not in g.producer


def test_drop_unneeded_from_a_start_index_leaves_earlier_nodes() -> None:
    g, v = _chain()
    g.drop_unneeded({v["c"].id}, first=2)
    assert [n.outputs[0].name for n in g.nodes] == [v["a"].name, v["b"].name, v["c"].name]


def test_prune_constants_from_a_start_index() -> None:
    with gn.Graph("c") as g:
        k0 = gn.constant(np.float32(1.0))
        k1 = gn.constant(np.float32(2.0))
        k2 = gn.constant(np.float32(3.0))
    g.prune_constants({k0.id}, first=1)
    assert [c.id for c in g.const_values] == [k0.id]  # k0 is before `first`: kept regardless
    assert set(g.constants) == {k0.id}
    assert k1.id not in g.constants and k2.id not in g.constants


def test_unique_name_counts_like_a_search() -> None:
    g = gn.Graph("names")
    assert [g.unique_name("a") for _ in range(3)] == ["a", "a_1", "a_2"]
    g.names.add("b_1")  # taken by hand: the counter skips it
    assert [g.unique_name("b") for _ in range(3)] == ["b", "b_2", "b_3"]
    h = g.copy()
    assert h.unique_name("a") == "a_3" and g.unique_name("a") == "a_3"  # copies count on independently


def test_facts_are_typed_and_copied_independently() -> None:
    g = gn.Graph("f")
    assert g.facts == GraphFacts()
    g.facts.fired.append({"pattern": "p"})
    h = g.copy()
    h.facts.fired.append({"pattern": "q"})
    assert [f["pattern"] for f in g.facts.fired] == ["p"]
    assert [f["pattern"] for f in h.facts.fired] == ["p", "q"]
