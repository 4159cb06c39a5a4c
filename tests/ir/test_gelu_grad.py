"""gelu's backward as one closed-form op (gelu_grad): gn.grad of gelu emits it, its float32 fast path matches
gelu's derivative written in float64 over the whole range (tails, zero crossing, inf, nan), and its own gradient
(gelu's second order) passes finite differences in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.ops.nn_grads import gelu_grad
from graphnn.passes.autodiff import expand_gradients


def _slope(v: float, approximate: str) -> float:
    """gelu'(v) in float64 from math.erfc (exact) or the tanh form's derivative."""
    if approximate == "none":
        return 0.5 * math.erfc(-v / math.sqrt(2)) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
    k, c = math.sqrt(2 / math.pi), 0.044715
    t = math.tanh(k * (v + c * v**3))
    return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * c * v * v)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_grad_of_gelu_is_one_gelu_grad_node(approximate: str) -> None:
    with gn.Graph("a") as g:
        x = gn.input("x", (None, 8))
        (gx,) = gn.grad(gn.sum(gn.gelu(x, approximate=approximate)), [x])
    ops = [n.op for n in expand_gradients(g.copy()).nodes]
    assert ops.count("gelu_grad") == 1 and "erf" not in ops
    xv = np.linspace(-6, 6, 16, dtype=np.float32).reshape(2, 8)
    got = gn.compile(g, outputs={"gx": gx})(x=xv)["gx"]
    want = np.array([_slope(float(v), approximate) for v in xv.ravel()]).reshape(xv.shape)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float32_blocks_and_tails_match_float64(dtype: str) -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(70000) * 4, np.linspace(-20, 20, 4001), [-0.7518, -0.75, 0.0]])
    x = x.astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    with gn.Graph("a") as gr:
        xv, gv = gn.input("x", x.shape, dtype), gn.input("g", x.shape, dtype)
        y = gelu_grad(xv, gv)
    got = gn.compile(gr, outputs={"y": y})(x=x, g=g)["y"]
    assert got.dtype == x.dtype
    want = np.array([_slope(float(v), "none") for v in x]) * g.astype(np.float64)
    tol = {"rtol": 3e-6, "atol": 1e-7} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-15}
    # absolute tolerance scaled by |g|: near the slope's zero (x = -0.7518) only the absolute error is meaningful
    np.testing.assert_allclose(got / np.where(g == 0, 1, g), want / np.where(g == 0, 1, g), **tol)


def test_extremes_give_the_limits_and_nan_stays_nan() -> None:
    x = np.array([-np.inf, -1e4, -40.0, 40.0, 1e4, np.inf, np.nan], np.float32)
    with gn.Graph("a") as gr:
        xv, gv = gn.input("x", x.shape), gn.input("g", x.shape)
        y = gelu_grad(xv, gv)
    with np.errstate(all="raise"):
        got = gn.compile(gr, outputs={"y": y})(x=x, g=np.ones_like(x))["y"]
    np.testing.assert_array_equal(got[:6], [0, 0, 0, 1, 1, 1])
    assert np.isnan(got[6])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_second_order_by_finite_differences(approximate: str) -> None:
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((3, 4)) * 2, rng.standard_normal((3, 4))
    report = gn.check_grad(lambda a, b: gn.sum(gelu_grad(a, b, approximate) * gelu_grad(a, b, approximate)), x, g)
    assert report.worst < 1e-6, str(report)

    def grad_of_gelu(a: gn.Value) -> gn.Value:  # gelu's first derivative through gn.grad, then differentiated again
        (da,) = gn.grad(gn.sum(gn.gelu(a, approximate=approximate) * gn.constant(g)), [a])
        return gn.sum(da * da)

    report = gn.check_grad(grad_of_gelu, x)
    assert report.worst < 1e-6, str(report)


def test_bad_mode_is_refused_at_the_users_line() -> None:
    with gn.Graph("a"):
        x = gn.input("x", (3,))
        with pytest.raises(gn.GraphError, match=r"approximate must be 'none' or 'tanh'(.|\n)*test_gelu_grad.py"):
            gelu_grad(x, x, "erf")
        with pytest.raises(gn.DTypeError):
            gelu_grad(gn.input("i", (3,), "int64"), gn.input("j", (3,), "int64"))
