"""`gn.check_grad` differentiates numerically in float64 even for a float32 graph: a correct gradient passes
with float64-level agreement, and its numeric side equals a NumPy float64 central difference."""

from __future__ import annotations

import numpy as np

import graphnn as gn

RNG = np.random.default_rng(4)
XS = RNG.normal(size=(6, 5)).astype(np.float32)
W0 = (RNG.normal(size=(5, 3)) * 2).astype(np.float32)


def f64_loss(w: np.ndarray) -> float:
    """The same loss in plain float64 NumPy: sum(tanh(x @ w)^2) * 10."""
    return float(np.sum(np.tanh(XS.astype(np.float64) @ w) ** 2) * 10.0)


def test_float32_graph_is_checked_in_float64() -> None:
    with gn.Graph("f32") as g:
        x = gn.input("x", (6, 5))
        w = gn.param("w", (5, 3), init=W0)
        t = gn.tanh(x @ w)
        loss = gn.sum(t * t) * 10.0
    assert loss.dtype == "float32"
    r = gn.check_grad(loss, wrt=[w], feeds={"x": XS})
    assert r.worst < 1e-6, str(r)
    h = 1e-6
    ref = np.zeros((5, 3))
    w64 = W0.astype(np.float64)
    for i in np.ndindex(5, 3):
        e = np.zeros((5, 3))
        e[i] = h
        ref[i] = (f64_loss(w64 + e) - f64_loss(w64 - e)) / (2 * h)
    np.testing.assert_allclose(r.numeric["w"], ref, rtol=1e-5, atol=1e-6)
    analytic = (XS.T.astype(np.float64) @ (20 * np.tanh(XS.astype(np.float64) @ w64)
                                          * (1 - np.tanh(XS.astype(np.float64) @ w64) ** 2)))
    np.testing.assert_allclose(r.symbolic["w"], analytic, rtol=1e-7)
    np.testing.assert_array_equal(g.storage["w"], W0)  # the user's float32 graph is untouched
    assert g.storage["w"].dtype == np.float32
