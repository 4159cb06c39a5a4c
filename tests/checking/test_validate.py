"""Validate mode: every pass is checked by evaluating the graph before and after it in float64 on random and
edge-case inputs; a deliberately broken pass is named, correct pipelines pass."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.graph import Graph
from graphnn.passes import pipeline


def _swap_add_sub(g: Graph) -> Graph:
    """Broken on purpose: type-preserving, verifies fine, computes something else."""
    for n in g.nodes:
        if n.op == "add":
            n.op = "sub"
    return g


def _relu_is_identity(g: Graph) -> Graph:
    """Broken on purpose, subtly: right for positive inputs only."""
    for n in g.nodes:
        if n.op == "relu":
            n.op = "identity"
    return g


@pytest.fixture
def broken_passes() -> Iterator[None]:
    pipeline.PASSES["swap_add_sub"] = _swap_add_sub
    pipeline.PASSES["relu_is_identity"] = _relu_is_identity
    try:
        yield
    finally:
        del pipeline.PASSES["swap_add_sub"], pipeline.PASSES["relu_is_identity"]


def _mlp() -> tuple[gn.Graph, dict, dict]:
    rng = np.random.default_rng(0)
    with gn.Graph("mlp") as g:
        x, y = gn.input("x", (None, 4)), gn.input("y", (None,), "int64")
        w1 = gn.param("w1", (4, 5), init=rng.standard_normal((4, 5)).astype(np.float32))
        b1 = gn.param("b1", (5,), init=np.full(5, 0.1, np.float32))
        w2 = gn.param("w2", (5, 3), init=rng.standard_normal((5, 3)).astype(np.float32))
        h = gn.relu(x @ w1 + b1)
        loss = gn.cross_entropy(gn.softmax(h @ w2), y)
        sq = gn.sum(gn.where(h > 0.0, gn.sqrt(h), 0.0))  # the double-where fix runs too
        params = [w1, b1, w2]
        grads = gn.grad(loss + sq, params)
    return g, {"loss": loss}, {p: p - 0.1 * gp for p, gp in zip(params, grads)}


@pytest.mark.parametrize("broken", ["swap_add_sub", "relu_is_identity"])
def test_broken_pass_is_named(broken_passes: None, broken: str) -> None:
    g, outs, ups = _mlp()
    names = ["cse", "fusion", "stability", "autodiff", "simplify", broken, "constant_folding", "dead_code"]
    with pytest.raises(gn.ValidationError, match=f"pass '{broken}' changed what the graph computes") as e:
        gn.compile(g, outputs=outs, updates=ups, passes=names, validate=True)
    assert e.value.pass_name == broken
    assert any(n.op == ("sub" if broken == "swap_add_sub" else "identity") for n in e.value.after.nodes)


def test_same_broken_pass_without_validate_goes_unnoticed(broken_passes: None) -> None:
    g, outs, ups = _mlp()
    fn = gn.compile(g, outputs=outs, updates=ups, passes=["swap_add_sub"])
    assert np.isfinite(fn(x=np.ones((2, 4), np.float32), y=np.array([0, 2]))["loss"])


def test_default_pipeline_validates(recwarn: pytest.WarningsRecorder) -> None:
    g, outs, ups = _mlp()
    fn = gn.compile(g, outputs=outs, updates=ups, validate=True)
    checks = {r.name: r.check for r in fn.report().records}
    assert all(c.startswith("ok on 5 input sets") for c in checks.values()), checks
    assert "[ok on 5 input sets]" in str(fn.report())


def test_optimize_validates_too(broken_passes: None) -> None:
    with gn.Graph("g") as g:
        x = gn.input("x", (3,))
        out = gn.exp(x) + 1.0
    with pytest.raises(gn.ValidationError, match="swap_add_sub"):
        gn.optimize(g, {"out": out}, passes=["swap_add_sub"], validate=True)


def test_stability_rewrite_is_not_reported_as_a_divergence() -> None:
    """BCE(sigmoid(x*x)) on wide inputs: the naive float64 reference saturates; the fused form is the fix."""
    import graphnn as gn

    with gn.Graph("bce_wide") as g:
        x, w = gn.input("x", (2, 3), "float64"), gn.input("w", (2, 3), "float64")
        loss = gn.binary_cross_entropy(gn.sigmoid(x * x), gn.sigmoid(w))
        dx, dw = gn.grad(loss, [x, w])
    fn = gn.compile(g, outputs={"loss": loss, "dw": dw}, validate=True)
    rec = next(r for r in fn.report().records if r.name == "fusion")
    assert rec.check.startswith("ok"), rec.check
    X = np.array([[8.0, -8.0, 1.0], [0.5, 7.0, -6.0]])
    W = np.zeros((2, 3))
    z, t = X * X, 0.5
    want = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))  # stable BCE-with-logits
    assert float(fn(x=X, w=W)["loss"]) == pytest.approx(want, rel=1e-12)
