"""Gradient-flow statuses of parameters and edges."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.viz.gradflow import gradient_flow


def test_param_statuses() -> None:
    z = np.zeros
    with gn.Graph("flow") as g:
        x = gn.input("x", (4, 3))
        w_out = gn.param("w_out", (3, 3), init=z((3, 3), "float32"))  # reaches loss directly
        w_relu = gn.param("w_relu", (3, 3), init=z((3, 3), "float32"))  # only through relu
        w_arg = gn.param("w_arg", (3, 3), init=z((3, 3), "float32"))  # only through argmax (integer path)
        w_frozen = gn.param("w_frozen", (3, 3), init=z((3, 3), "float32"), trainable=False)
        w_unused = gn.param("w_unused", (3, 3), init=z((3, 3), "float32"))
        gn.sum(x @ w_unused)  # computed but not part of the loss
        idx = gn.argmax(x @ w_arg, axis=1)
        h = gn.relu(x @ w_relu) + x @ w_out + x @ w_frozen
        loss = gn.sum(h) + gn.sum(gn.cast(idx, "float32"))
        g.output("loss", loss)
    f = gradient_flow(g)
    assert f["loss"] == loss.name
    assert f["params"] == {"w_out": "grad", "w_relu": "gated", "w_arg": "zero", "w_frozen": "frozen",
                           "w_unused": "disconnected"}
    edge = {(v, n): s for (v, n), s in f["edges"].items()}
    relu = next(n for n in g.nodes if n.op == "relu")
    assert edge[(relu.inputs[0].id, relu.id)] == "gated"
    amax = next(n for n in g.nodes if n.op == "argmax")
    assert edge[(amax.inputs[0].id, amax.id)] == "zero"


def test_compiled_step_with_fused_chains_keeps_first_layer_gated_not_zero() -> None:
    """After elementwise fusion (bias-add + relu in one fused node) the first layer still receives gradient."""
    rng = np.random.default_rng(0)
    with gn.Graph("fusedflow") as g:
        x = gn.input("x", (None, 4))
        y = gn.input("y", (None,), "int64")
        w1 = gn.param("w1", (4, 8), init=rng.standard_normal((4, 8)).astype("float32"))
        b1 = gn.param("b1", (8,), init=np.zeros(8, "float32"))
        w2 = gn.param("w2", (8, 3), init=rng.standard_normal((8, 3)).astype("float32"))
        loss = gn.cross_entropy(gn.softmax(gn.relu(x @ w1 + b1) @ w2), y)
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params))
    assert any(n.op == "fused_elementwise" for n in fn.graph.nodes)
    flow = gradient_flow(fn.graph, fn.graph.outputs["loss"])
    assert flow["params"]["w2"] == "grad"
    assert flow["params"]["w1"] == "gated" and flow["params"]["b1"] == "gated"  # behind the relu mask
