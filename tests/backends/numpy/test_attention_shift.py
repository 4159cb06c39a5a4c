"""The unmasked NumPy attention kernel exponentiates the logits unshifted (softmax does not depend on a row's shift)
and falls back to the exact row max where a row sum overflows or underflows (a row max above ~88 or below ~-69 in
float32): both regimes against a plain NumPy softmax written here in float64, gradients by finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.numpy import attention as kernels


def _reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, causal: bool) -> np.ndarray:
    s = np.einsum("...id,...jd->...ij", q.astype(np.float64), k.astype(np.float64)) * scale
    if causal:
        s = np.where(np.triu(np.ones(s.shape[-2:], bool), 1), -np.inf, s)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ v.astype(np.float64)


def _attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float | None, causal: bool) -> np.ndarray:
    with gn.Graph() as g:
        qv, kv, vv = (gn.input(n, a.shape, a.dtype.name) for n, a in zip("qkv", (q, k, v)))
        out = gn.attention(qv, kv, vv, causal=causal, scale=scale)
    return gn.compile(g, outputs={"o": out})(q=q, k=k, v=v)["o"]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype, tol", [("float32", 2e-6), ("float64", 1e-13)])
@pytest.mark.parametrize("scale", [None, -0.7])
def test_unshifted_softmax_matches_a_plain_softmax(causal: bool, dtype: str, tol: float, scale: float | None) -> None:
    rng = np.random.default_rng(3)
    q, k, v = ((rng.standard_normal((2, 3, 7, 5)) * 2).astype(dtype) for _ in range(3))
    got = _attention(q, k, v, scale, causal)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, _reference(q, k, v, 5 ** -0.5 if scale is None else scale, causal), rtol=tol,
                               atol=tol)


def _far(offset: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Every logit is offset + (0 or ±0.01·j): exp of all of them overflows (offset 1000) or underflows (-1000).
    q = np.zeros((1, 4, 2), np.float32)
    q[..., 0] = 1.0
    q[..., 1] = np.float32(offset)
    k = np.zeros((1, 4, 2), np.float32)
    k[..., 0] = [0.0, 0.01, -0.02, 0.03]
    k[..., 1] = 1.0
    v = np.arange(8, dtype=np.float32).reshape(1, 4, 2)
    return q, k, v


@pytest.mark.parametrize("offset", [1000.0, -1000.0, 85.0, -90.0])
@pytest.mark.parametrize("causal", [False, True])
def test_overflowing_or_underflowing_rows_fall_back_to_the_row_max(offset: float, causal: bool) -> None:
    q, k, v = _far(offset)
    got = _attention(q, k, v, 1.0, causal)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, _reference(q, k, v, 1.0, causal), rtol=1e-5, atol=1e-6)


def test_without_the_fallback_an_underflowing_row_would_break(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test above exercises the fallback: accepting any row sum (LOW_SUM 0) loses the rows to 0/0.
    monkeypatch.setattr(kernels, "LOW_SUM", 0.0)
    q, k, v = _far(-1000.0)
    with np.errstate(all="ignore"):
        assert not np.isfinite(_attention(q, k, v, 1.0, False)).all()


def test_non_finite_inputs_take_the_exact_path() -> None:
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 3, 2)).astype(np.float32) for _ in range(3))
    q[0, 1, 0] = np.nan
    with np.errstate(all="ignore"):
        got = _attention(q, k, v, None, True)
        want = _reference(q, k, v, 2 ** -0.5, True)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_gradients_through_the_unshifted_softmax(causal: bool) -> None:
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 5, 3)) for _ in range(3))
    gn.check_grad(lambda a, b, c: gn.attention(a, b, c, causal=causal), q, k, v, tol=1e-6)
