"""Feeds the types cannot judge: an empty batch, BCE targets outside [0, 1] and a plan-hanging size are
FeedErrors before anything runs; an unread input is never required; a non-finite loss never reaches the
parameters (the optimizer's default guard) and a failed call leaves parameters and state as they were."""

from __future__ import annotations

import time

import numpy as np
import pytest

import graphnn as gn


def bce_step(opt: gn.optim.Optimizer | None = None) -> tuple[gn.Graph, gn.Function]:
    with gn.Graph("bce") as g:
        x = gn.input("x", (None, 3))
        y = gn.input("y", (None, 1))
        gn.input("unused", (None, 5))
        w = gn.param("w", (3, 1), init=np.array([[0.5], [-0.5], [0.25]], np.float32))
        loss = gn.binary_cross_entropy(gn.sigmoid(x @ w), y)
    opt = opt or gn.optim.Adam(0.1)
    return g, gn.compile(g, outputs={"loss": loss}, updates=opt.updates(loss))


X = np.array([[1, 2, 3], [0, 1, 0]], np.float32)
Y = np.array([[1], [0]], np.float32)


def values(g: gn.Graph) -> dict[str, np.ndarray]:
    return {k: np.array(g.storage[k]) for k in g.storage.keys()}


def assert_unchanged(g: gn.Graph, before: dict[str, np.ndarray]) -> None:
    for k, a in before.items():
        np.testing.assert_array_equal(g.storage[k], a, err_msg=k)


@pytest.mark.parametrize("feeds, match", [
    ({"x": np.zeros((0, 3), np.float32), "y": np.zeros((0, 1), np.float32)}, "feed 'x' is empty"),
    ({"x": X, "y": np.array([[2.0], [0.0]], np.float32)}, r"targets must lie in \[0, 1\], got values in \[0.0, 2.0\]"),
    ({"x": X, "y": np.array([[-0.5], [0.0]], np.float32)}, r"targets must lie in \[0, 1\]"),
    ({"x": np.broadcast_to(X[:1], (2**40, 3)), "y": np.broadcast_to(Y[:1], (2**40, 1))},
     r"feed 'x': shape \(1099511627776, 3\) is 12288 GiB"),
])
def test_bad_feed_values_are_feed_errors_before_anything_runs(feeds: dict, match: str) -> None:
    g, fn = bce_step()
    fn(x=X, y=Y)  # a plan exists: the fast path must still refuse
    before = values(g)
    t0 = time.perf_counter()
    with pytest.raises(gn.FeedError, match=match):
        fn(**feeds)
    assert time.perf_counter() - t0 < 5.0
    assert_unchanged(g, before)


def test_unused_input_with_symbolic_dims_is_not_required() -> None:
    _, fn = bce_step()
    out = fn(x=X, y=Y)
    p = 1 / (1 + np.exp(-(X.astype(np.float64) @ np.array([[0.5], [-0.5], [0.25]]))))
    want = -np.mean(Y * np.log(p) + (1 - Y) * np.log(1 - p))
    assert float(out["loss"]) == pytest.approx(want, rel=1e-5)
    fn(x=X, y=Y, unused=np.ones((7, 5), np.float32))  # accepted and ignored


def test_unread_input_still_binds_a_dim_the_graph_needs() -> None:
    """An unread input is kept only when it alone binds a dim a computed shape needs."""
    with gn.Graph("bind") as g:
        n = gn.input("n", ("rows", 2))
        p = gn.param("p", (2,), init=np.ones(2, np.float32))
        out = gn.broadcast_to(p, ("rows", 2)) * 2.0
    fn = gn.compile(g, outputs={"o": out})
    np.testing.assert_array_equal(fn(n=np.zeros((3, 2), np.float32))["o"], np.full((3, 2), 2.0))
    assert n.name == "n"


@pytest.mark.parametrize("opt", [gn.optim.SGD(0.1), gn.optim.Adam(0.1), gn.optim.RMSprop(0.1)],
                         ids=["sgd", "adam", "rmsprop"])
def test_nonfinite_loss_never_reaches_the_parameters(opt: gn.optim.Optimizer) -> None:
    g, fn = bce_step(opt)
    fn(x=X, y=Y)
    before = values(g)
    bad = X.copy()
    bad[0, 1] = np.nan
    out = fn(x=bad, y=Y)
    assert np.isnan(out["loss"])
    assert_unchanged(g, before)  # parameters, slots and step counter
    fn(x=X, y=Y)
    assert not np.array_equal(g.storage["w"], before["w"])  # the next good batch trains


def test_guard_can_be_turned_off() -> None:
    g, fn = bce_step(gn.optim.SGD(0.1, skip_nonfinite=False))
    bad = X.copy()
    bad[0, 1] = np.inf
    fn(x=bad, y=Y)
    assert not np.all(np.isfinite(g.storage["w"]))


def test_check_numerics_names_the_node_and_changes_nothing() -> None:
    with gn.Graph("cn") as g:
        x = gn.input("x", (None, 3))
        w = gn.param("w", (3,), init=np.ones(3, np.float32))
        loss = gn.sum(gn.log(x * w))
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss), check_numerics=True)
    before = values(g)
    with pytest.raises(gn.NumericsError, match="log"):
        fn(x=np.array([[1.0, -1.0, 2.0]], np.float32))
    assert_unchanged(g, before)
