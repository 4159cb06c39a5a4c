"""The exact float32 GELU and its slope on both kernel paths, the compiled one (numba, the `fast` extra) and the
plain NumPy one (GRAPHNN_NO_NUMBA=1): values against float64 references written here from math.erfc, over the whole
float32 range (both tails, the slope's zero, subnormal inputs, ±inf, nan), odd sizes and views, and through a
compiled graph's forward and backward."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends import compiled
from graphnn.backends.numpy.nn_grads import gelu_slope32
from graphnn.backends.numpy.special import gelu32


def _gelu64(v: float) -> float:
    return v * 0.5 * math.erfc(-v / math.sqrt(2))


def _slope64(v: float) -> float:
    return 0.5 * math.erfc(-v / math.sqrt(2)) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)


def _grid() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([np.linspace(-16.0, 16.0, 64001), rng.standard_normal(20001) * 3,
                           np.geomspace(1e-40, 1.0, 300), -np.geomspace(1e-40, 1.0, 300),
                           [0.0, -0.7518, 14.79, 14.81, -14.79, -14.81, 1e30, -1e30, 3.0e38, -3.0e38]]).astype(np.float32)


def test_gelu_relative_error_over_the_float32_range(kernel_path: str) -> None:
    x = _grid()
    want = np.array([_gelu64(float(v)) for v in x])
    got = gelu32(np, x)
    assert got.dtype == np.float32 and got.shape == x.shape
    normal = np.abs(want) > 1e-37
    rel = np.abs(got[normal] - want[normal]) / np.abs(want[normal])
    assert rel.max() < 1e-6, (kernel_path, x[normal][rel.argmax()], rel.max())
    assert (np.abs(got[~normal]) <= 1e-37).all()  # subnormal or 0 where the value is below float32's range


def test_slope_times_g_over_the_float32_range(kernel_path: str) -> None:
    x = _grid()
    g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    got = gelu_slope32(np, x, g)
    assert got.dtype == np.float32
    want = np.array([_slope64(float(v)) for v in x]) * g.astype(np.float64)
    # relative to |g|: near the slope's zero (x = -0.7518) only the absolute error means anything
    np.testing.assert_allclose(got / g, want / g, rtol=2e-6, atol=1e-7)


def test_special_values_and_shapes(kernel_path: str) -> None:
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45], np.float32)
    with np.errstate(all="raise"):  # no floating-point exception on the way
        y = gelu32(np, x)
        s = gelu_slope32(np, x, np.ones_like(x))
    np.testing.assert_array_equal(y[[0, 1, 3, 4]], [np.inf, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(s[[0, 1]], [1.0, 0.0])
    np.testing.assert_allclose(s[[3, 4, 5]], 0.5, rtol=3e-7)  # 1-2 ulp: the fit's constant term is 1 - 1.6e-7
    assert np.isnan(y[2]) and np.isnan(s[2])
    for shape in [(), (0,), (1,), (7, 13), (2, 3, 5)]:  # empty, scalar and odd sizes
        v = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
        want = np.vectorize(_gelu64, otypes=[float])(v.astype(np.float64))
        np.testing.assert_allclose(gelu32(np, v), want, rtol=1e-6, atol=1e-37)
        assert gelu32(np, v).shape == shape
    view = (np.random.default_rng(3).standard_normal((4, 9001)) * 4).astype(np.float32)[:, ::3]  # non-contiguous
    np.testing.assert_allclose(gelu32(np, view), np.vectorize(_gelu64, otypes=[float])(view.astype(np.float64)), rtol=1e-6,
                               atol=1e-37)
    gv = np.ones_like(view)
    np.testing.assert_allclose(gelu_slope32(np, view, gv), np.vectorize(_slope64, otypes=[float])(view.astype(np.float64)),
                               rtol=2e-6, atol=1e-7)


def test_compiled_graph_gradient_matches_float64(kernel_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph's gelu forward and backward (the gelu_grad op) in float32 equal the float64 formulas on a
    (batch 1, odd length) input (the float64 op's own gradients are checked by finite differences in
    tests/ir/test_gelu_grad.py; float64 never takes the compiled path)."""
    rng = np.random.default_rng(4)
    xv = (rng.standard_normal((1, 37, 5)) * 3).astype(np.float32)
    xv[0, :8, 0] = [np.inf, -np.inf, 0.0, -0.0, -0.7518, 14.9, -14.9, -30.0]  # limits and the slope's zero
    with gn.Graph("g") as g:
        x = gn.input("x", (None, 37, 5))
        y = gn.gelu(x)
        (gx,) = gn.grad(gn.sum(y * y), [x])
    used: list[int] = []
    if kernel_path == "numba":  # the backward must reuse the forward's tail (a CallContext fact), not recompute it
        mod = compiled.kernels("gelu")
        real = mod.slope_from_tail
        monkeypatch.setattr(mod, "slope_from_tail", lambda *a: (used.append(1), real(*a)))
    out = gn.compile(g, outputs={"y": y, "gx": gx})(x=xv)
    assert used == ([1] if kernel_path == "numba" else [])
    x64 = xv.astype(np.float64)
    with np.errstate(invalid="ignore"):  # the formulas give nan at ±inf; the limits are set below
        want_y = np.vectorize(_gelu64, otypes=[float])(x64)
        slope = np.vectorize(_slope64, otypes=[float])(x64)
    want_y[0, :2, 0] = [np.inf, 0.0]
    slope[0, :2, 0] = [1.0, 0.0]
    np.testing.assert_allclose(out["y"], want_y, rtol=1e-6, atol=1e-37)
    fin = np.isfinite(want_y)
    np.testing.assert_allclose(out["gx"][fin], (2 * want_y * slope)[fin], rtol=1e-5, atol=1e-6)
    assert np.isinf(out["gx"][0, 0, 0])  # 2 y y' at +inf
