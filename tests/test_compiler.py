"""gn.compile(..., updates=...): every update is computed from pre-update values, then written; storage is
shared by all functions compiled from one graph."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn


def test_updates_read_pre_update_values() -> None:
    with gn.Graph("u") as g:
        a = gn.param("a", (2,), "float64", init=np.array([1.0, 2.0]))
        b = gn.param("b", (2,), "float64", init=np.array([10.0, 20.0]))
        s = gn.state("steps", (), "float64", init=0.0)
    fn = gn.compile(g, outputs={"a_before": gn.identity(a)}, updates={a: a + b, b: a * 1.0, s: s + 1.0})
    out = fn()
    np.testing.assert_array_equal(out["a_before"], [1.0, 2.0])
    np.testing.assert_array_equal(g.storage["a"], [11.0, 22.0])
    np.testing.assert_array_equal(g.storage["b"], [1.0, 2.0])  # the old a, not the new one
    fn()
    np.testing.assert_array_equal(g.storage["a"], [12.0, 24.0])
    assert float(g.storage["steps"]) == 2.0


def test_swap_through_views() -> None:
    with gn.Graph("swap") as g:
        a = gn.param("a", (2, 2), "float64", init=np.array([[1.0, 2.0], [3.0, 4.0]]))
        b = gn.param("b", (2, 2), "float64", init=np.array([[5.0, 6.0], [7.0, 8.0]]))
    gn.compile(g, updates={a: gn.identity(b), b: a.T})()
    np.testing.assert_array_equal(g.storage["a"], [[5.0, 6.0], [7.0, 8.0]])
    np.testing.assert_array_equal(g.storage["b"], [[1.0, 3.0], [2.0, 4.0]])


def test_sgd_step_through_grad_and_shared_storage() -> None:
    rng = np.random.default_rng(0)
    w0, x0, t0 = rng.standard_normal((3, 1)), rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
    with gn.Graph("sgd") as g:
        x = gn.input("x", (None, 3), "float64")
        t = gn.input("t", (None, 1), "float64")
        w = gn.param("w", (3, 1), "float64", init=w0)
        loss = gn.mse(x @ w, t)
        (gw,) = gn.grad(loss, [w])
    train = gn.compile(g, outputs={"loss": loss}, updates={w: w - 0.1 * gw})
    evaluate = gn.compile(g, outputs={"loss": loss})
    before = evaluate(x=x0, t=t0)["loss"]
    out = train(x=x0, t=t0)
    assert out["loss"] == pytest.approx(before)  # the loss is computed before the update is written
    expected = w0 - 0.1 * (2 * x0.T @ (x0 @ w0 - t0) / 5)
    np.testing.assert_allclose(g.storage["w"], expected, rtol=1e-12)
    after = evaluate(x=x0, t=t0)["loss"]  # the evaluation function sees the trained weights
    np.testing.assert_allclose(after, np.mean((x0 @ expected - t0) ** 2), rtol=1e-12)
    assert after < before


def test_update_type_mismatch_is_error() -> None:
    with gn.Graph("bad") as g:
        w = gn.param("w", (2,), "float64", init=np.zeros(2))
    with pytest.raises(gn.GraphError, match="updates"):
        gn.compile(g, updates={w: gn.sum(w)})


def test_mode_defaults_to_eval_without_updates_and_train_with_them() -> None:
    from graphnn import nn

    with gn.Graph("m") as g:
        x = gn.input("x", (None, 4))
        w = gn.param("w", (4,), init=np.ones(4, "float32"))
        h = nn.Dropout(0.5)(x * w)
    X = np.ones((50, 4), "float32")
    ev = gn.compile(g, outputs={"h": h})
    np.testing.assert_array_equal(ev(x=X)["h"], X)  # evaluation: dropout is the identity
    step = gn.compile(g, outputs={"h": h}, updates={w: w * 1.0})
    out = step(x=X)["h"]
    assert set(np.unique(out)) == {0.0, 2.0}  # a training step drops and rescales
    tr = gn.compile(g, outputs={"h": h}, mode="train")  # explicit mode still wins
    assert set(np.unique(tr(x=X)["h"])) == {0.0, 2.0}
    assert set(np.unique(gn.compile(g, outputs={"h": h}, updates={w: w * 1.0}, mode="eval")(x=X)["h"])) == {1.0}
