"""The NumPy layer_norm kernel (row sums as matrix-vector products) against layer normalization written plainly
in float64 here: one and several normalized axes, sizes that are and are not powers of two, large means (the
two-pass variance), float32 and float64, a symbolic batch, and gradients by finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn


def _reference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, axis: int, eps: float) -> np.ndarray:
    r = tuple(range(axis % x.ndim, x.ndim))
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=r, keepdims=True)
    var = ((x64 - mu) ** 2).mean(axis=r, keepdims=True)
    return (x64 - mu) / np.sqrt(var + eps) * gamma + beta


@pytest.mark.parametrize("shape, axis", [((4, 7, 64), -1), ((3, 5, 6), -2), ((2, 3, 10), 1), ((9, 33), -1)])
@pytest.mark.parametrize("dtype, tol", [("float32", 2e-4), ("float64", 1e-11)])
def test_layer_norm_matches_the_definition(shape: tuple, axis: int, dtype: str, tol: float) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3 + 1000).astype(dtype)  # a large mean: a one-pass variance would be off by ~1e-2
    norm_shape = shape[axis % len(shape):]
    gamma = rng.standard_normal(norm_shape).astype(dtype)
    beta = rng.standard_normal(norm_shape).astype(dtype)
    with gn.Graph() as g:
        xv = gn.input("x", (None, *shape[1:]), dtype)
        y = gn.layer_norm(xv, gn.constant(gamma), gn.constant(beta), axis=axis, eps=1e-5)
    got = gn.compile(g, outputs={"y": y})(x=x)["y"]
    assert got.dtype == np.dtype(dtype) and got.shape == shape
    np.testing.assert_allclose(got, _reference(x, gamma, beta, axis, 1e-5), rtol=tol, atol=tol)


def test_layer_norm_gradients() -> None:
    rng = np.random.default_rng(1)
    x, gamma, beta = rng.standard_normal((3, 4, 5)), rng.standard_normal(5), rng.standard_normal(5)
    gn.check_grad(lambda a, b, c: gn.layer_norm(a, b, c), x, gamma, beta, tol=1e-6)
