"""The gradient of a weight shared over batch dims, (..., m, k) @ (k, n): one 2-D product over the stacked rows
(symbolic batch included), equal to the sum of the per-sample products written in NumPy and to finite
differences in float64."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.passes.autodiff import expand_gradients


@pytest.mark.parametrize("lead", [(None, 5), (None, 2, 3)])
def test_weight_gradient_is_one_2d_product(lead: tuple) -> None:
    w0 = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    with gn.Graph("a") as g:
        x = gn.input("x", (*lead, 4))
        w = gn.param("w", (4, 6), init=lambda s, d: w0.astype(d))
        gy = gn.input("gy", (*lead, 6))
        gx, gw = gn.grad(gn.sum((x @ w) * gy), [x, w])
    nodes = expand_gradients(g.copy()).nodes
    mm = [n for n in nodes if n.op == "matmul"]
    assert any(n.outputs[0].ndim == 2 and n.inputs[0].ndim == 2 for n in mm[1:])  # dW: (k, rows) @ (rows, n)
    assert not any(n.op == "sum" and n.outputs[0].ndim == 2 and n.inputs[0].ndim > 2 for n in nodes)
    rng = np.random.default_rng(1)
    shape = (3,) + tuple(d for d in lead[1:])
    xv = rng.standard_normal((*shape, 4)).astype(np.float32)
    gv = rng.standard_normal((*shape, 6)).astype(np.float32)
    out = gn.compile(g, outputs={"gx": gx, "gw": gw})(x=xv, gy=gv)
    want = sum(xv.reshape(-1, 4)[i][:, None] * gv.reshape(-1, 6)[i][None, :] for i in range(xv.reshape(-1, 4).shape[0]))
    np.testing.assert_allclose(out["gw"], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["gx"], gv @ w0.T, rtol=1e-5, atol=1e-5)


def test_first_and_second_order_by_finite_differences() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    gn.check_grad(lambda x, w: gn.sum((x @ w) * (x @ w)), a, b, tol=1e-6)

    def grad_norm(x: gn.Value, w: gn.Value) -> gn.Value:
        (gw,) = gn.grad(gn.sum(gn.tanh(x @ w)), [w])
        return gn.sum(gw * gw)

    gn.check_grad(grad_norm, a, b, tol=1e-6)
