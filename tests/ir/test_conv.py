"""conv2d / max_pool2d: type rules, kernels against explicit-loop NumPy references, gradient rules (and those
of the backward ops, for second order) against float64 central differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.ir.ops import conv

from .nnops_gradcheck import check_vjp


def ref_conv2d(x: np.ndarray, w: np.ndarray, stride: tuple, padding: tuple) -> np.ndarray:
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), x.dtype)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, o, ho, wo), x.dtype)
    for b in range(n):
        for oc in range(o):
            for i in range(ho):
                for j in range(wo):
                    y[b, oc, i, j] = np.sum(xp[b, :, i * sh:i * sh + kh, j * sw:j * sw + kw] * w[oc])
    return y


def ref_max_pool2d(x: np.ndarray, k: tuple, s: tuple, p: tuple) -> np.ndarray:
    n, c, h, wd = x.shape
    xp = np.full((n, c, h + 2 * p[0], wd + 2 * p[1]), -np.inf, x.dtype)
    xp[:, :, p[0]:p[0] + h, p[1]:p[1] + wd] = x
    ho, wo = (h + 2 * p[0] - k[0]) // s[0] + 1, (wd + 2 * p[1] - k[1]) // s[1] + 1
    y = np.zeros((n, c, ho, wo), x.dtype)
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    y[b, ch, i, j] = xp[b, ch, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].max()
    return y


CONV_CASES = [  # x shape, w shape, stride, padding
    ((2, 3, 7, 6), (4, 3, 3, 2), (1, 1), (0, 0)),
    ((2, 3, 7, 6), (4, 3, 3, 3), (2, 1), (1, 1)),
    ((1, 2, 8, 8), (3, 2, 3, 3), (2, 2), (1, 0)),
    ((3, 1, 5, 5), (2, 1, 5, 5), (1, 1), (2, 2)),
    ((1, 2, 6, 7), (2, 2, 2, 3), (3, 2), (0, 1)),  # output does not cover the last rows: gradient there is 0
]


@pytest.mark.parametrize("xs,ws,stride,padding", CONV_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_forward_matches_loops(xs, ws, stride, padding, dtype):
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=xs).astype(dtype), rng.normal(size=ws).astype(dtype)
    with gn.Graph() as g:
        xv = gn.input("x", (None,) + xs[1:], dtype)
        wv = gn.input("w", ws, dtype)
        y = gn.conv2d(xv, wv, stride=stride, padding=padding)
    out = gn.compile(g, outputs={"y": y})(x=x, w=w)["y"]
    ref = ref_conv2d(x, w, stride, padding)
    assert out.dtype == np.dtype(dtype) and out.shape == ref.shape
    assert tuple(y.shape[1:]) == ref.shape[1:]
    np.testing.assert_allclose(out, ref, rtol=1e-4 if dtype == "float32" else 1e-12, atol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("xs,ws,stride,padding", CONV_CASES)
def test_conv2d_gradients(xs, ws, stride, padding):
    rng = np.random.default_rng(2)
    arrays = {"x": rng.normal(size=xs), "w": rng.normal(size=ws)}
    check_vjp(lambda x, w: gn.conv2d(x, w, stride, padding), arrays)


@pytest.mark.parametrize("xs,ws,stride,padding", CONV_CASES[1:3] + CONV_CASES[4:])
def test_conv2d_backward_ops_gradients(xs, ws, stride, padding):
    rng = np.random.default_rng(3)
    ho = (xs[2] + 2 * padding[0] - ws[2]) // stride[0] + 1
    wo = (xs[3] + 2 * padding[1] - ws[3]) // stride[1] + 1
    gy = rng.normal(size=(xs[0], ws[0], ho, wo))
    check_vjp(lambda gy_, w: conv.conv2d_input_grad(gy_, w, xs[2:], stride, padding),
              {"gy": gy, "w": rng.normal(size=ws)})
    check_vjp(lambda x, gy_: conv.conv2d_weight_grad(x, gy_, ws[2:], stride, padding),
              {"x": rng.normal(size=xs), "gy": gy})


def test_conv2d_type_errors():
    with gn.Graph():
        x = gn.input("x", (None, 3, 8, 8))
        with pytest.raises(gn.ShapeError, match="channels"):
            gn.conv2d(x, gn.input("w", (4, 2, 3, 3)))
        with pytest.raises(gn.DTypeError):
            gn.conv2d(x, gn.input("w64", (4, 3, 3, 3), "float64"))
        with pytest.raises(gn.ShapeError, match="larger than the padded input"):
            gn.conv2d(x, gn.input("wbig", (4, 3, 9, 9)))
        with pytest.raises(gn.ShapeError, match="static"):
            gn.conv2d(gn.input("xs", (None, 3, "h", 8)), gn.input("w2", (4, 3, 3, 3)))
        with pytest.raises(gn.ShapeError, match="rank 4"):
            gn.conv2d(gn.input("x3", (3, 8, 8)), gn.input("w3", (4, 3, 3, 3)))


def _distinct(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    # Well-separated distinct values: no ties, and finite differences never change a window's max.
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + rng.uniform(-0.01, 0.01, shape)


def test_check_grad_through_a_small_cnn():
    # The whole path through gn.grad: conv -> tanh -> pool -> conv (stride 2) -> layer_norm.
    rng = np.random.default_rng(8)

    def cnn(x, w1, w2):
        h = gn.max_pool2d(gn.tanh(gn.conv2d(x, w1, padding=1)), 2)
        return gn.layer_norm(gn.conv2d(h, w2, stride=2, padding=1), axis=1, eps=0.1)

    res = gn.check_grad(cnn, rng.normal(size=(2, 2, 6, 6)), rng.normal(size=(3, 2, 3, 3)),
                        rng.normal(size=(2, 3, 3, 3)), tol=1e-6)
    assert set(res.errors) == {"x0", "x1", "x2"}


@st.composite
def conv_configs(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h, w = draw(st.integers(max(kh - 2 * ph, 1), 7)), draw(st.integers(max(kw - 2 * pw, 1), 7))
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, c, h, w), (o, c, kh, kw), (sh, sw), (ph, pw)


@settings(max_examples=40, deadline=None)
@given(conv_configs(), st.integers(0, 2**31 - 1))
def test_conv_and_pool_random_configs(cfg, seed):
    xs, ws, stride, padding = cfg
    rng = np.random.default_rng(seed)
    x, w = _distinct(rng, xs), rng.normal(size=ws)
    with gn.Graph() as g:
        xv, wv = gn.input("x", xs, "float64"), gn.input("w", ws, "float64")
        y = gn.conv2d(xv, wv, stride, padding)
        p = gn.max_pool2d(xv, ws[2:], stride, padding)
    out = gn.compile(g, outputs={"y": y, "p": p})(x=x, w=w)
    np.testing.assert_allclose(out["y"], ref_conv2d(x, w, stride, padding), rtol=1e-12, atol=1e-10)
    np.testing.assert_array_equal(out["p"], ref_max_pool2d(x, ws[2:], stride, padding))
    check_vjp(lambda a, b: gn.conv2d(a, b, stride, padding), {"x": x, "w": w}, seed=seed)
    check_vjp(lambda a: gn.max_pool2d(a, ws[2:], stride, padding), {"x": x}, seed=seed)
