"""Sums and means over the first or last axis of 1-d/2-d float arrays run as one BLAS product with a
constant vector (numpy/reduction.py sum_by_dot); they must equal NumPy's reductions, keepdims and empty axes too."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("shape,axes", [((7, 5), (0,)), ((7, 5), (1,)), ((7, 5), (-1,)), ((6,), None),
                                        ((6,), (0,)), ((3, 4), (0, 1)), ((0, 4), (1,)), ((1, 9), (0,))])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reductions_equal_numpy(op: str, shape: tuple, axes: tuple | None, keepdims: bool, dtype: str) -> None:
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 10).astype(dtype)
    with gn.Graph("r") as g:
        x = gn.input("x", shape, dtype)
        y = getattr(gn, op)(gn.exp(x) * 1.0, axes, keepdims=keepdims)  # planned input, planned output
    got = gn.compile(g, {"y": y})(x=a)["y"]
    ref = getattr(np, op)(np.exp(a.astype(np.float64)), axis=axes, keepdims=keepdims)
    assert got.shape == ref.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_softmax_rows_sum_to_one_and_match_numpy() -> None:
    a = np.random.default_rng(1).standard_normal((33, 7)).astype(np.float32) * 20
    with gn.Graph("s") as g:
        x = gn.input("x", ("b", 7))
        p = gn.softmax(x * 1.0)
    fn = gn.compile(g, {"p": p})
    for rows in (a, a[:1], a[:5]):
        got = fn(x=np.ascontiguousarray(rows))["p"]
        e = np.exp(rows.astype(np.float64) - rows.max(1, keepdims=True))
        np.testing.assert_allclose(got, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
