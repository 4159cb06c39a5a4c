"""to_dot: valid DOT (rendered by `dot` when installed, else parsed by pydot) carrying types, backward
styling, parameter collapsing and scope clusters."""

from __future__ import annotations

import shutil
import subprocess

import pydot
import pytest

import graphnn as gn
from graphnn.viz.html import read_page_data


def _parse(text: str) -> pydot.Dot:
    (g,) = pydot.graph_from_dot_data(text)
    return g


def _all_nodes(g: pydot.Dot) -> list:
    nodes = list(g.get_nodes())
    for sg in g.get_subgraphs():
        nodes += sg.get_nodes()
    return [n for n in nodes if n.get_name() not in ("node", "edge", "graph")]


def test_dot_has_every_box_and_typed_edges(mlp_fn) -> None:
    g = mlp_fn.graph
    text = gn.viz.to_dot(g, dims={"batch": 64})
    d = _parse(text)
    nodes = _all_nodes(d)
    n_sources = sum(1 for v in g.inputs + g.params + g.state + g.const_values if v.ndim > 0 or v.kind != "const")
    assert len(nodes) == len(g.nodes) + n_sources + len(g.outputs) + len(g.updates)
    labels = {e.get_label().strip('"') for e in d.get_edges()}
    assert "float32[784,256]" in labels  # w1 flowing into its matmul
    back = [n for n in nodes if "dashed" in (n.get("style") or "")]
    assert len(back) == sum("backward" in n.tags for n in g.nodes)
    assert {sg.get_label().strip('"') for sg in d.get_subgraphs()} >= {"layer1", "layer2", "layer3", "loss"}
    mm = next(n for n in g.nodes if n.op == "matmul" and "backward" not in n.tags)
    assert f"{2 * 64 * 784 * 256 / 1e6:.3g}M FLOP" in text and mm.location in text


def test_hide_backward_and_collapse_params(mlp_fn) -> None:
    g = mlp_fn.graph
    d = _parse(gn.viz.to_dot(g, hide_backward=True, collapse_params=True, cluster=False))
    nodes = _all_nodes(d)
    assert not any("dashed" in (n.get("style") or "") for n in nodes)
    names = {n.get("tooltip").strip('"') for n in nodes}
    assert not names & {p.name for p in g.params}
    assert d.get_subgraphs() == []


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed; parsed with pydot above")
def test_dot_renders_with_graphviz(mlp_fn) -> None:
    r = subprocess.run(["dot", "-Tsvg"], input=gn.viz.to_dot(mlp_fn.graph), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count('class="node"') > len(mlp_fn.graph.nodes)


def test_dot_of_a_compiled_function_draws_its_optimized_graph(mlp_fn) -> None:
    text = gn.viz.to_dot(mlp_fn, dims={"batch": 8})  # before: AttributeError ('Function' has no 'inputs')
    assert text == gn.viz.to_dot(mlp_fn.graph, dims={"batch": 8})
    assert 'style="filled,dashed' in text  # the backward part is there


def _with_pending_grad() -> gn.Graph:
    with gn.Graph("pending") as g:
        x = gn.input("x", (None, 3))
        w = gn.param("w", (3, 2), init=gn.init.normal(seed=0))
        loss = gn.mean(gn.tanh(x @ w))
        (gw,) = gn.grad(loss, [w])
        g.output("gw", gw)
    return g


def test_pending_gradients_are_expanded_so_backward_can_be_hidden() -> None:
    g = _with_pending_grad()
    n_before = len(g.nodes)
    full = _parse(gn.viz.to_dot(g))
    fwd = _parse(gn.viz.to_dot(g, hide_backward=True))
    ops = [n.get("label") or "" for n in _all_nodes(full)]
    assert not any("op: grad" in o for o in ops)  # the request became backward nodes
    assert any("dashed" in (n.get("style") or "") for n in _all_nodes(full))
    assert len(_all_nodes(fwd)) < len(_all_nodes(full))
    assert not any("dashed" in (n.get("style") or "") for n in _all_nodes(fwd))
    assert len(g.nodes) == n_before and any(n.op == "grad" for n in g.nodes)  # the user's graph is untouched


def test_dot_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="gn.Graph or a compiled function"):
        gn.viz.to_dot(object())


def test_html_of_a_graph_with_pending_gradients_draws_the_backward_part(tmp_path) -> None:
    html = (tmp_path / "p.html")
    gn.viz.save_html(_with_pending_grad(), html)
    data = read_page_data(html)
    assert any("backward" in data["nodes"][i]["c"].split() for i in data["graphs"][0]["n"])
