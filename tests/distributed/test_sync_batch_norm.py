"""BatchNorm(sync=True) in one process (one rank): the global batch is the local one, so it must be plain batch norm:
output and running statistics against NumPy, gradients against finite differences."""

from __future__ import annotations

import numpy as np

import graphnn as gn


def test_sync_batch_norm_on_one_rank_is_batch_norm() -> None:
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(6, 4)) * 3 + 1
    with gn.Graph("bn") as g:
        x = gn.input("x", (None, 4), "float64")
        bn = gn.nn.BatchNorm(4, sync=True, momentum=0.5)
        y = bn(x)
    fn = gn.compile(g, outputs={"y": y}, updates=gn.nn.state_updates(g), mode="train")
    out = fn(x=xs)
    mean, var = xs.mean(0), xs.var(0)
    np.testing.assert_allclose(out["y"], (xs - mean) / np.sqrt(var + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(g.storage[bn.running_mean.name], 0.5 * mean, rtol=1e-12)
    np.testing.assert_allclose(g.storage[bn.running_var.name], 0.5 + 0.5 * xs.var(0, ddof=1), rtol=1e-12)
    assert any(n.op == "all_reduce" for n in fn.graph.nodes)  # the synced form, not batch_norm_train


def test_sync_batch_norm_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    xs, w = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    with gn.Graph("bn"):
        x = gn.input("x", (5, 3), "float64")
        y = gn.nn.BatchNorm(3, sync=True)(x)
        loss = gn.sum(y * gn.constant(w))
    res = gn.check_grad(loss, wrt=[x], feeds={"x": xs})
    assert res.worst < 1e-6, res
    assert np.abs(res.symbolic["x"]).max() > 1e-3  # not the trivial zero gradient
