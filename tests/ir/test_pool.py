"""max_pool2d and its backward ops: kernels against explicit-loop NumPy references, gradient rules (and those of
the backward ops, for second order) against float64 central differences, build-time errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.ops import pool

from .nnops_gradcheck import check_vjp
from .test_conv import _distinct, ref_max_pool2d

POOL_CASES = [  # x shape, kernel, stride, padding
    ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0)),
    ((2, 2, 7, 5), (3, 3), (2, 2), (1, 1)),  # overlapping windows with padding
    ((1, 2, 5, 6), (2, 3), (1, 2), (0, 1)),
]


@pytest.mark.parametrize("xs,k,s,p", POOL_CASES)
def test_max_pool2d_forward_matches_loops(xs, k, s, p):
    x = np.random.default_rng(4).normal(size=xs).astype("float32")
    with gn.Graph() as g:
        y = gn.max_pool2d(gn.input("x", (None,) + xs[1:]), k, s, p)
    out = gn.compile(g, outputs={"y": y})(x=x)["y"]
    ref = ref_max_pool2d(x, k, s, p)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("xs,k,s,p", POOL_CASES)
def test_max_pool2d_gradients(xs, k, s, p):
    rng = np.random.default_rng(5)
    x = _distinct(rng, xs)
    check_vjp(lambda x_: gn.max_pool2d(x_, k, s, p), {"x": x})
    ho, wo = ref_max_pool2d(x, k, s, p).shape[2:]
    gy = rng.normal(size=xs[:2] + (ho, wo))
    check_vjp(lambda x_, gy_: pool.max_pool2d_grad(x_, gy_, k, s, p), {"x": x, "gy": gy})
    check_vjp(lambda x_, z: pool.max_pool2d_select(x_, z, k, s, p), {"x": x, "z": rng.normal(size=xs)})


def test_max_pool2d_ties_go_to_first_max():
    x = np.ones((1, 1, 2, 2))
    with gn.Graph() as g:
        xv = gn.input("x", (1, 1, 2, 2), "float64")
        gy = gn.input("gy", (1, 1, 1, 1), "float64")
        gx = pool.max_pool2d_grad(xv, gy, 2)
    out = gn.compile(g, outputs={"gx": gx})(x=x, gy=np.full((1, 1, 1, 1), 3.0))["gx"]
    np.testing.assert_array_equal(out, [[[[3.0, 0.0], [0.0, 0.0]]]])


def test_max_pool2d_type_errors():
    with gn.Graph():
        x = gn.input("x", (None, 3, 8, 8))
        with pytest.raises(gn.ShapeError, match="at most half"):
            gn.max_pool2d(x, 2, padding=2)
        with pytest.raises(gn.DTypeError):
            gn.max_pool2d(gn.input("xi", (1, 1, 4, 4), "int64"), 2)
        assert tuple(gn.max_pool2d(x, 3, 1, 1).shape[1:]) == (3, 8, 8)
        assert tuple(gn.max_pool2d(x, 2).shape[1:]) == (3, 4, 4)
