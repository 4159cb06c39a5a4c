"""The float32 erf and erfc of graphnn/backends/numpy/special.py against Python's math.erf/math.erfc (double
precision, applied element by element) over the whole range, including both tails and values near 0."""

from __future__ import annotations

import math

import numpy as np

from graphnn.backends.numpy.special import erf32, erfc32, gelu32

X = np.concatenate([np.linspace(-9.0, 9.0, 20001), np.geomspace(1e-30, 1.0, 200), -np.geomspace(1e-30, 1.0, 200),
                    [0.0, 0.49999997, 0.5, 0.50000006]]).astype(np.float32)


def _rel(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got.astype(np.float64) - want) / np.abs(want)


def test_erf32_relative_error_below_6e7() -> None:
    want = np.array([math.erf(float(v)) for v in X])
    got = erf32(np, X)
    assert got.dtype == np.float32
    nz = want != 0
    assert _rel(got[nz], want[nz]).max() < 6e-7
    assert (got[~nz] == 0).all()


def test_erfc32_relative_error_below_6e7_into_the_tail() -> None:
    want = np.array([math.erfc(float(v)) for v in X])
    got = erfc32(np, X)
    assert got.dtype == np.float32
    normal = want > 1e-37  # below float32's normal range the result is subnormal or 0
    assert _rel(got[normal], want[normal]).max() < 6e-7


def _gelu64(v: float) -> float:
    """x Φ(x) in double precision, Φ through math.erfc (no cancellation in the left tail)."""
    return v * 0.5 * math.erfc(-v / math.sqrt(2))


def test_gelu32_relative_error_below_1e6_into_the_left_tail() -> None:
    x = np.concatenate([np.linspace(-15.0, 15.0, 30001), np.geomspace(1e-30, 1.0, 200), -np.geomspace(1e-30, 1.0, 200),
                        [0.0, 3.0e38, -3.0e38]]).astype(np.float32)
    want = np.array([_gelu64(float(v)) for v in x])
    got = gelu32(np, x)
    assert got.dtype == np.float32
    normal = np.abs(want) > 1e-37
    assert _rel(got[normal], want[normal]).max() < 1e-6
    assert (np.abs(got[~normal]) <= 1e-37).all()  # subnormal or 0 where the value is below float32's range


def test_gelu32_matches_the_definition_on_a_block_boundary_sized_input() -> None:
    # Sizes that are not a multiple of the block, and a non-contiguous view, go through the same formula.
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 40000)) * 3).astype(np.float32)[:, ::3]
    want = np.vectorize(_gelu64)(x.astype(np.float64))
    np.testing.assert_allclose(gelu32(np, x), want, rtol=1e-6, atol=1e-37)


def test_special_values() -> None:
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 4.5, -4.5], np.float32)
    np.testing.assert_array_equal(erf32(np, x), [1.0, -1.0, np.nan, 0.0, 1.0, -1.0])
    np.testing.assert_array_equal(erfc32(np, x), [0.0, 2.0, np.nan, 1.0, np.float32(math.erfc(4.5)), 2.0])
    with np.errstate(all="raise"):  # the limits, with no floating-point exception on the way
        np.testing.assert_array_equal(gelu32(np, x[[0, 1, 3]]), [np.inf, 0.0, 0.0])
    assert np.isnan(gelu32(np, x[[2]])).all()


def test_erf32_absolute_error_within_an_ulp_of_one() -> None:
    # 1 + erf(x / sqrt(2)) is GELU's CDF as ONNX (and many users) write it: erf's absolute error near -1 becomes
    # the CDF's relative error in the left tail, so it must stay within float32's spacing at 1 (6e-8).
    x = np.linspace(-4.5, 4.5, 90001).astype(np.float32)
    want = np.array([math.erf(float(v)) for v in x])
    assert np.abs(erf32(np, x).astype(np.float64) - want).max() < 6e-8
