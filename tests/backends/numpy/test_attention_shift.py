"""The unmasked NumPy attention kernel shifts each row by an upper bound of its logits (|scale| |q_i| max_j |k_j|)
instead of the row max, and falls back to the max where that bound overshoots: both regimes against a plain
NumPy softmax written here in float64, gradients by finite differences."""

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
def test_bound_shift_matches_a_plain_softmax(causal: bool, dtype: str, tol: float, scale: float | None) -> None:
    rng = np.random.default_rng(3)
    q, k, v = ((rng.standard_normal((2, 3, 7, 5)) * 2).astype(dtype) for _ in range(3))
    got = _attention(q, k, v, scale, causal)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, _reference(q, k, v, 5 ** -0.5 if scale is None else scale, causal), rtol=tol,
                               atol=tol)


def _overshooting() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # q is long and orthogonal to every key: the bound 100·|k| exceeds every logit (0 or ±0.01) by ~100 > SLACK.
    q = np.zeros((1, 4, 2), np.float32)
    q[..., 0] = 200.0
    k = np.zeros((1, 4, 2), np.float32)
    k[..., 1] = [1.0, -1.0, 2.0, 0.5]
    k[..., 0] = [0.0, 1e-4, -1e-4, 0.0]
    v = np.arange(8, dtype=np.float32).reshape(1, 4, 2)
    return q, k, v


def test_an_overshooting_bound_falls_back_to_the_row_max() -> None:
    q, k, v = _overshooting()
    np.testing.assert_allclose(_attention(q, k, v, 1.0, False), _reference(q, k, v, 1.0, False), rtol=1e-5)


def test_without_the_fallback_that_input_would_break(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test above exercises the fallback: accepting any bound (slack 1e9) loses the rows to 0/0.
    monkeypatch.setattr(kernels, "SHIFT_SLACK", 1e9)
    q, k, v = _overshooting()
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
def test_gradients_through_the_bound_shift(causal: bool) -> None:
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 5, 3)) for _ in range(3))
    gn.check_grad(lambda a, b, c: gn.attention(a, b, c, causal=causal), q, k, v, tol=1e-6)
