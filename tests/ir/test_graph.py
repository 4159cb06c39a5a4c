"""Graph structure: printing, verification, copying, networkx form, JSON round trip on every op case."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.serialize import from_json, to_json
from graphnn.ir.verify import verify

from ..conformance.cases import CASES, build_case, draw


def _mlp() -> tuple[gn.Graph, gn.Value]:
    with gn.Graph("mlp") as g:
        x = gn.input("x", ("batch", 4))
        y = gn.input("y", ("batch",), "int64")
        w = gn.param("w", (4, 3), init=np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
        b = gn.param("b", (3,), init=np.zeros(3, np.float32))
        loss = gn.cross_entropy(gn.softmax(x @ w + b), y)
        g.output("loss", loss)
    return g, loss


def test_printer_shows_one_line_per_node_with_types_and_location() -> None:
    g, _ = _mlp()
    text = str(g)
    assert "input  x: float32[batch,4]" in text
    assert "param  w: float32[4,3]" in text
    assert "%softmax = softmax(%add) {axis=1} : float32[batch,3]" in text
    assert "test_graph.py:" in text
    assert text.count(" = ") - 1 == len(g.nodes)  # node lines, plus the output line


def test_verify_catches_bad_order_and_types() -> None:
    g, _ = _mlp()
    verify(g)
    bad = g.copy()
    bad.nodes.reverse()
    with pytest.raises(gn.GraphError, match="before it is defined"):
        verify(bad)


def test_copy_is_independent_but_shares_storage() -> None:
    g, _ = _mlp()
    c = g.copy()
    c.nodes.pop()
    assert len(g.nodes) == len(c.nodes) + 1
    assert c.storage is g.storage
    assert [n.id for n in c.nodes] == [n.id for n in g.nodes[:-1]]


def test_networkx_form_is_a_dag_following_data() -> None:
    g, _ = _mlp()
    G = g.to_networkx()
    assert nx.is_directed_acyclic_graph(G)
    ops = [d["op"] for _, d in G.nodes(data=True) if d["kind"] == "op"]
    assert ops == [n.op for n in g.nodes]


def test_provenance_and_labels() -> None:
    with gn.Graph() as g:
        x = gn.input("x", (2,))
        with gn.label("head"):
            y = gn.relu(x)
    n = y.producer
    assert "head" in n.prov.labels
    assert any("test_graph.py" in loc for loc in n.prov.locations)
    assert g.nodes == [n]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.op}-{c.id}" if c.id else c.op)
def test_json_round_trip_every_op(case) -> None:
    g, ins, out = build_case(case)
    g.output("out", out)
    g2 = from_json(to_json(g))
    verify(g2)
    assert str(g2) == str(g)
    assert to_json(g2) == to_json(g)
    rng = np.random.default_rng(1)
    feeds = {v.name: draw(s, 3, rng) for v, s in zip(ins, case.inputs)}
    a = gn.compile(g, passes="none")(**feeds)["out"]
    b = gn.compile(g2, passes="none")(**feeds)["out"]
    np.testing.assert_array_equal(a, b)


def test_json_round_trip_keeps_params_and_provenance() -> None:
    g, _ = _mlp()
    g2 = from_json(to_json(g))
    np.testing.assert_array_equal(g2.storage["w"], g.storage["w"])
    assert [n.prov for n in g2.nodes] == [n.prov for n in g.nodes]


def test_json_round_trip_is_a_fixed_point_with_initializer_specs() -> None:
    with gn.Graph("j") as g:
        x = gn.input("x", (None, 3))
        w = gn.param("w", (3, 2), init=gn.init.normal(seed=0))
        b = gn.param("b", (2,), init=gn.init.zeros())
        c = gn.param("c", (2,), init=np.ones(2, "float32"))
        g.output("h", gn.relu(x @ w + b + c))
    s = to_json(g)
    g2 = from_json(s)
    assert to_json(g2) == s and to_json(from_json(to_json(g2))) == s
    assert g2.param_info["w"].init == gn.init.normal(seed=0).spec
    assert g2.param_info["b"].init == gn.init.zeros().spec and g2.param_info["c"].init is None


def test_printer_shows_fused_bodies_as_expressions() -> None:
    from graphnn.ir.printer import format_body

    body = (("mul", (), (("c", 0.5, "float32"), ("in", 0))), ("add", (), (("t", 0), ("in", 1))),
            ("relu", (), (("t", 1),)), ("sub", (), (("in", 2), ("t", 2))),
            ("sub", (), (("t", 3), ("in", 0))), ("div", (), (("in", 1), ("t", 4))),
            ("leaky_relu", (("alpha", 0.1),), (("t", 5),)))
    assert format_body(body[:3]) == "relu(0.5 * in0 + in1)"
    assert format_body(body) == "leaky_relu(in1 / (in2 - relu(0.5 * in0 + in1) - in0), alpha=0.1)"
    with gn.Graph("f") as g:
        x = gn.input("x", (None, 3))
        y = gn.input("y", (None, 3))
        z = gn.relu(x * 0.5 + y) * 2.0
    text = str(gn.compile(g, outputs={"z": z}).graph)
    line = next(ln for ln in text.splitlines() if "fused_elementwise" in ln)
    assert "{body: " in line and "('" not in line


def test_printer_caps_the_comment_column() -> None:
    with gn.Graph("w") as g:
        x = gn.input("x", (2,))
        gn.relu(x)
        gn.reshape(x, (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2))
    lines = {ln.split("=")[0].strip(): ln for ln in str(g).splitlines() if "#" in ln}
    assert lines["%relu"].index("#") == 100 + 2
    assert len(lines["%reshape"].split("  # ")[0]) > 100 and lines["%reshape"].count("  # ") == 1
