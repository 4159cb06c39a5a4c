"""dropout: inverted scaling in train mode, identity in eval mode, a seedable stream whose masks change from
step to step, and a gradient that reuses the forward's mask."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

from .nnops_gradcheck import check_vjp


def _graph(p: float, seed: int | None = 0, shape=(200, 100), n_layers: int = 1):
    with gn.Graph("drop") as g:
        x = gn.input("x", (None,) + shape[1:], "float64")
        ys = [gn.dropout(x, p, seed=seed) for _ in range(n_layers)]
        gn.param("w", (), "float64", init=1.0)
    return g, x, ys


def _training_step(g: gn.Graph, outputs: dict, mode: str = "train") -> gn.Function:
    """A function with an update (what an optimizer step has): the mode pass advances the dropout stream."""
    w = g.param("w")
    with g:
        return gn.compile(g, outputs=outputs, updates={w: w * 1.0}, mode=mode)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_train_mode_is_inverted_dropout(p):
    g, _, (y,) = _graph(p)
    f = gn.compile(g, outputs={"y": y}, mode="train")
    X = np.random.default_rng(0).uniform(1.0, 2.0, size=(200, 100))  # never 0: a zero output means dropped
    out = f(x=X)["y"]
    kept = out != 0
    np.testing.assert_allclose(out[kept], X[kept] / (1 - p), rtol=1e-15)
    # 20000 Bernoulli(1-p) draws: the kept fraction is within 5 standard deviations of 1-p.
    sd = np.sqrt(p * (1 - p) / X.size)
    assert abs(kept.mean() - (1 - p)) < 5 * sd
    # Inverted dropout keeps the expectation: the mean of the output is close to the mean of the input.
    assert abs(out.mean() - X.mean()) < 5 * np.sqrt(p / (1 - p)) * X.std() / np.sqrt(X.size) + 5 * X.mean() * sd


def test_masks_change_between_steps_and_are_independent():
    g, _, (y,) = _graph(0.5)
    f = _training_step(g, {"y": y})
    X = np.ones((200, 100))
    m1, m2 = f(x=X)["y"] != 0, f(x=X)["y"] != 0
    assert int(g.storage["rng_step"]) == 2
    assert (m1 != m2).mean() > 0.4  # independent masks disagree on half the elements
    assert abs((m1 & m2).mean() - 0.25) < 5 * np.sqrt(0.25 * 0.75 / X.size)


def test_stream_is_reproducible_from_the_seed():
    X = np.ones((50, 100))

    def run(seed):
        g, _, (y,) = _graph(0.3, seed=seed)
        f = _training_step(g, {"y": y})
        return [f(x=X)["y"] for _ in range(3)]

    a, b, c = run(7), run(7), run(8)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


def test_two_dropouts_of_one_graph_draw_different_masks():
    g, _, (y1, y2) = _graph(0.5, n_layers=2)
    o = gn.compile(g, outputs={"a": y1, "b": y2}, mode="train")(x=np.ones((200, 100)))
    assert (o["a"] != o["b"]).mean() > 0.4


def test_eval_mode_is_identity_and_does_not_advance_the_stream():
    g, _, (y,) = _graph(0.5)
    f = _training_step(g, {"y": y}, mode="eval")
    X = np.random.default_rng(1).normal(size=(20, 100))
    np.testing.assert_array_equal(f(x=X)["y"], X)
    assert "dropout" not in [n.op for n in f.graph.nodes]
    assert int(g.storage["rng_step"]) == 0


def test_a_function_without_updates_is_pure():
    g, _, (y,) = _graph(0.5)
    f = gn.compile(g, outputs={"y": y}, mode="train")
    X = np.ones((20, 100))
    np.testing.assert_array_equal(f(x=X)["y"], f(x=X)["y"])
    assert int(g.storage["rng_step"]) == 0


def test_check_grad_through_dropout_and_batch_norm_in_train_mode():
    rng = np.random.default_rng(5)

    def net(x, gamma, beta):
        rm = gn.state("rm", (3,), "float64", init=0.0)
        rv = gn.state("rv", (3,), "float64", init=1.0)
        h = gn.batch_norm(x, gamma, beta, rm, rv, eps=0.1).y
        return gn.tanh(gn.dropout(h, 0.3, seed=2))

    arrays = rng.normal(size=(4, 3, 2, 2)), rng.uniform(0.5, 1.5, 3), rng.normal(size=3)
    res = gn.check_grad(net, *arrays, tol=1e-6)
    assert set(res.errors) == {"x0", "x1", "x2"}
    ev = gn.check_grad(net, *arrays, tol=1e-6, mode="eval")  # running statistics, no mask: other gradients
    assert not np.allclose(res.symbolic["x0"], ev.symbolic["x0"])


def test_gradient_uses_the_forward_mask():
    p = 0.4
    with gn.Graph() as g:
        x = gn.input("x", (30, 40), "float64")
        cot = gn.input("cot", (30, 40), "float64")
        y = gn.dropout(x, p)
        (gx, _) = gn.ir.op_registry.get_op("dropout").grad(y.producer, [cot])
    f = gn.compile(g, outputs={"y": y, "gx": gx}, mode="train")
    X = np.random.default_rng(2).uniform(1, 2, (30, 40))
    C = np.random.default_rng(3).normal(size=(30, 40))
    o = f(x=X, cot=C)
    np.testing.assert_allclose(o["gx"], np.where(o["y"] != 0, C / (1 - p), 0.0), rtol=1e-15)


def test_dropout_gradient_finite_differences():
    arrays = {"x": np.random.default_rng(4).normal(size=(6, 7)), "step": np.asarray(5, dtype="int64")}
    check_vjp(lambda x, s: gn.dropout(x, 0.3, seed=1, step=s), arrays, wrt=["x"])


def test_explicit_updates_of_the_counter_are_kept():
    g, _, (y,) = _graph(0.5)
    step = g.param("rng_step")
    with g:
        f = gn.compile(g, outputs={"y": y}, updates={step: step + 10})
    f(x=np.ones((2, 100)))
    assert int(g.storage["rng_step"]) == 10


def test_dropout_errors():
    with gn.Graph():
        x = gn.input("x", (3, 4))
        with pytest.raises(gn.ShapeError, match="p must lie"):
            gn.dropout(x, 1.0)
        with pytest.raises(gn.DTypeError, match="integer scalar"):
            gn.dropout(x, 0.5, step=gn.input("s", (), "float32"))
        with pytest.raises(gn.DTypeError):
            gn.dropout(gn.input("xi", (3,), "int64"), 0.5)
