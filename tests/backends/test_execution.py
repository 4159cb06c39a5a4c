"""Compiled execution: results equal plain NumPy, feeds are checked before anything runs."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn


def _net(dtype: str) -> tuple[gn.Graph, dict]:
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((4, 8)).astype(dtype)
    w2 = rng.standard_normal((8, 3)).astype(dtype)
    with gn.Graph() as g:
        x = gn.input("x", ("batch", 4), dtype)
        y = gn.input("y", ("batch",), "int64")
        W1 = gn.param("w1", (4, 8), dtype, init=w1)
        W2 = gn.param("w2", (8, 3), dtype, init=w2)
        h = gn.tanh(x @ W1)
        p = gn.softmax(h @ W2)
        loss = gn.cross_entropy(p, y)
    return g, {"p": p, "loss": loss, "w1": w1, "w2": w2}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mlp_matches_plain_numpy(dtype: str) -> None:
    g, v = _net(dtype)
    fn = gn.compile(g, outputs={"p": v["p"], "loss": v["loss"]})
    rng = np.random.default_rng(1)
    for batch in (1, 7, 7, 2):
        X = rng.standard_normal((batch, 4)).astype(dtype)
        Y = rng.integers(0, 3, batch)
        out = fn(x=X, y=Y)
        z = np.tanh(X @ v["w1"]) @ v["w2"]
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(out["p"], p, rtol=tol, atol=tol)
        np.testing.assert_allclose(out["loss"], -np.log(p[np.arange(batch), Y]).mean(), rtol=tol)
        assert out["p"].dtype == dtype


def test_feed_errors_are_clear_and_change_nothing() -> None:
    g, v = _net("float32")
    with g:
        w = g.param("w1")
    fn = gn.compile(g, outputs={"loss": v["loss"]}, updates={w: w * 2})
    before = g.storage["w1"].copy()
    X = np.zeros((3, 4), np.float32)
    Y = np.zeros(3, np.int64)
    cases = [
        (dict(x=X), "missing feed"),
        (dict(x=X, y=Y, z=1), "unknown feed"),
        (dict(x=X.astype(np.float64), y=Y), "dtype float64"),
        (dict(x=X[None], y=Y), "rank 3"),
        (dict(x=np.zeros((3, 5), np.float32), y=Y), "axis 1 has size 5"),
        (dict(x=X, y=np.zeros(4, np.int64)), "symbolic dim 'batch'"),
        (dict(x=X, y=np.full(3, 7, np.int64)), "labels must lie in"),
    ]
    for feeds, msg in cases:
        with pytest.raises(gn.FeedError, match=msg):
            fn(**feeds)
        np.testing.assert_array_equal(g.storage["w1"], before)
    fn(x=X, y=Y)
    np.testing.assert_array_equal(g.storage["w1"], before * 2)


def test_updates_use_pre_update_values() -> None:
    with gn.Graph() as g:
        a = gn.param("a", (), init=np.float32(1))
        b = gn.param("b", (), init=np.float32(10))
    fn = gn.compile(g, updates={a: b, b: a})  # a swap only works if both read old values
    fn()
    assert (float(g.storage["a"]), float(g.storage["b"])) == (10.0, 1.0)


def test_update_type_mismatch_is_an_error() -> None:
    with gn.Graph() as g:
        a = gn.param("a", (2,), init=np.zeros(2, np.float32))
        x = gn.input("x", (3,))
    with pytest.raises(gn.GraphError, match="update"):
        gn.compile(g, updates={a: x})


def test_unknown_backend() -> None:
    with gn.Graph() as g:
        x = gn.input("x", (2,))
    with pytest.raises(gn.BackendError, match="numpy"):
        gn.compile(g, outputs=[x * 2], backend="tpu")


def test_inputs_the_outputs_do_not_read_need_no_feed() -> None:
    g, v = _net("float32")
    predict = gn.compile(g, outputs={"p": v["p"]})  # labels are not needed to predict
    X = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    p = predict(x=X)["p"]
    np.testing.assert_array_equal(predict(x=X, y=np.zeros(3, np.int64))["p"], p)  # still accepted, ignored
    with pytest.raises(gn.FeedError, match=r"unknown feed\(s\) \['z'\].*also accepted, unused here: \['y'\]"):
        predict(x=X, z=X)
    with pytest.raises(gn.FeedError, match="missing feed"):
        predict(y=np.zeros(3, np.int64))
