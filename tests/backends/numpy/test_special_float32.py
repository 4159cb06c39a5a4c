"""The float32 erf and erfc of graphnn/backends/numpy/special.py against Python's math.erf/math.erfc (double
precision, applied element by element) over the whole range, including both tails and values near 0."""

from __future__ import annotations

import math

import numpy as np

from graphnn.backends.numpy.special import erf32, erfc32

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
