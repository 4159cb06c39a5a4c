"""Debugging at the layer level: a collapsed layer shows the worst gradient state inside it and the NaN a
check_numerics run found (search/links open the path to the node); and the small drawing defects stay fixed (no
unread mode state in eval drawings, bound dims shown with name and size, FLOPs "need --dims" instead of 0)."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.viz.browser import Browser, find_chromium
from graphnn.viz.dot import drawable
from graphnn.viz.model import build

chromium = pytest.mark.skipif(find_chromium() is None, reason="no chromium binary (apt-get install -y chromium)")


def _flow_graph() -> tuple[gn.Graph, gn.Value]:
    with gn.Graph("gf") as g:
        x = gn.input("x", (None, 4), "float32")
        live, dead = gn.nn.Linear(4, 3, name="live"), gn.nn.Linear(4, 3, name="dead")
        loss = gn.mean(live(x)) + gn.mean(gn.stop_gradient(dead(x)))
    return g, loss


def test_eval_drawing_has_no_mode_only_leftovers() -> None:
    with gn.Graph("d") as g:
        x = gn.input("x", (None, 4), "float32")
        out = gn.sum(gn.nn.Dropout(0.5)(gn.nn.Linear(4, 4)(x)))
    fn = gn.compile(g, outputs={"out": out})  # eval: dropout is gone, its step counter is read by nothing
    assert "rng_step" in [v.name for v in fn.graph.state]
    labels = [n.label for n in build(fn.graph).nodes.values()]
    assert "rng_step" not in labels and "→ out" in labels


def test_bound_dims_named_and_unbound_flops_say_so() -> None:
    with gn.Graph("b") as g:
        x = gn.input("x", (None, 6), "float32")
        y = gn.nn.Linear(6, 2)(x)
    bound = build(g, dims={"batch": 32})
    mm = next(n for n in bound.nodes.values() if n.info.get("op") == "matmul")
    assert mm.info["outputs"][0].endswith("float32[batch=32,2]") and mm.info["flops"] == 2 * 32 * 6 * 2
    free = build(g)
    mm = next(n for n in free.nodes.values() if n.info.get("op") == "matmul")
    assert mm.info["flops"] is None and mm.info["flops_text"] == "needs --dims"
    assert "need --dims" in free.totals["text"] and "0FLOP" not in free.totals["text"]
    assert "0 FLOP" not in gn.viz.to_dot(g) and "FLOPs needs --dims" in gn.viz.to_dot(g)
    assert y.graph is g


@chromium
def test_collapsed_layers_show_worst_gradient_state(tmp_path) -> None:
    g, loss = _flow_graph()
    flow = gn.viz.gradient_flow(g, loss)["params"]
    assert flow["dead/w"] == "zero" and flow["live/w"] == "grad"
    page = gn.viz.save_html(g, tmp_path / "flow.html", loss=loss)
    with Browser(1200, 800) as b:
        b.open(page)
        b.eval("document.getElementById('t-flow').click()")
        fill = "(k) => getComputedStyle(document.querySelector('#viewport [data-key=\"' + k + '\"] rect')).fill"
        assert b.eval(f"({fill})('g:dead')") == "rgb(239, 154, 154)"  # the zero-gradient colour, on the layer box
        assert b.eval(f"({fill})('g:live')") == "rgb(165, 214, 167)"  # receives gradient
        assert b.errors() == []


@chromium
def test_nan_is_marked_on_the_collapsed_layer_and_the_link_opens_it(tmp_path) -> None:
    with gn.Graph("nan") as g:
        x = gn.input("x", (None, 4), "float32")
        h = gn.relu(gn.nn.Linear(4, 4, name="body")(x))
        with g.name_scope("head"):
            z = gn.log(gn.nn.Linear(4, 4)(h) - 100.0)  # log of a negative number: NaN
        out = gn.sum(z)
    fn = gn.compile(g, outputs={"out": out}, check_numerics=True)
    with pytest.raises(gn.NumericsError) as err:
        fn(x=np.ones((2, 4), np.float32))
    node = err.value.node
    page = gn.viz.save_html(fn, tmp_path / "nan.html", error=err.value)
    with Browser(1200, 800) as b:
        b.open(page)
        assert b.eval("document.querySelector('#viewport [data-key=\"g:head\"]').getAttribute('class')").count("nan-in")
        assert b.eval(f"document.querySelector('#viewport [data-key=\"n{node.id}\"]')") is None  # inside, collapsed
        assert "NaN/inf" in b.eval("document.getElementById('passinfo').innerText")
        b.eval("document.querySelector('#passinfo [data-go]').click()")
        cls = b.eval(f"document.querySelector('#viewport [data-key=\"n{node.id}\"]').getAttribute('class')")
        assert "nan" in cls.split() and "sel" in cls.split()
        assert "produced" in b.eval("document.getElementById('detail').innerText")
        assert b.errors() == []


def test_conv_flops_count_the_dot_products() -> None:
    with gn.Graph("c") as g:
        x = gn.input("x", (None, 3, 16, 16), "float32")
        y = gn.nn.Conv2d(3, 4, 7, stride=2, padding=3, bias=False)(x)
        loss = gn.sum(y)
        gn.grad(loss, [x] + list(g.params))
    dg = build(drawable(g), dims={"batch": 8})  # the gradient requests expanded into conv2d's transposes
    per = {n.info["op"]: n.info["flops"] for n in dg.nodes.values() if n.info.get("op", "").startswith("conv2d")}
    want = 2 * (8 * 4 * 8 * 8) * (3 * 7 * 7)  # output elements x (C_in * kh * kw) multiply-adds
    assert per == {"conv2d": want, "conv2d_input_grad": want, "conv2d_weight_grad": want}
