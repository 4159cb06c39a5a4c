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
        with pytest.raises(gn.ShapeError, match="smaller than the"):
            gn.max_pool2d(x, 2, padding=2)
        with pytest.raises(gn.DTypeError):
            gn.max_pool2d(gn.input("xi", (1, 1, 4, 4), "int64"), 2)
        assert tuple(gn.max_pool2d(x, 3, 1, 1).shape[1:]) == (3, 8, 8)
        assert tuple(gn.max_pool2d(x, 2).shape[1:]) == (3, 4, 4)


# ---- the wider family: ceil mode, dilation, asymmetric pads, average and adaptive pooling, 1-D ----------------
torch = pytest.importorskip("torch", reason="torch is the reference for PyTorch's pooling conventions")
F = torch.nn.functional

TORCH_POOLS = [  # x shape, kernel, stride, padding (symmetric: torch's form), dilation, ceil_mode
    ((2, 3, 7, 8), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((2, 2, 9, 9), (2, 3), (2, 1), (1, 1), (2, 1), False),
    ((1, 2, 6, 5), (3, 2), (3, 2), (1, 0), (1, 2), True),
    ((3, 1, 5, 5), (2, 2), (1, 1), (0, 0), (1, 1), False),
]


def _run(fn, x: np.ndarray, gy_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """fn's value on x and the gradient of sum(fn(x) * r) for a fixed random r, through gn.grad."""
    with gn.Graph() as g:
        xv = gn.input("x", x.shape, str(x.dtype))
        y = fn(xv)
        r = gn.constant(np.random.default_rng(gy_seed).normal(size=tuple(y.shape)).astype(x.dtype))
        (gx,) = gn.grad(gn.sum(y * r), [xv])
    out = gn.compile(g, outputs={"y": y, "gx": gx})(x=x)
    return out["y"], out["gx"]


def _torch(fn, x: np.ndarray, yshape: tuple, gy_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    xt = torch.tensor(x, requires_grad=True)
    y = fn(xt)
    r = torch.tensor(np.random.default_rng(gy_seed).normal(size=yshape).astype(x.dtype))
    (y * r).sum().backward()
    return y.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("xs,k,s,p,d,ceil", TORCH_POOLS)
def test_max_pool2d_matches_torch(xs, k, s, p, d, ceil):
    x = _distinct(np.random.default_rng(1), xs).astype("float32")
    y, gx = _run(lambda v: gn.max_pool2d(v, k, s, p, d, ceil), x)
    ty, tgx = _torch(lambda t: F.max_pool2d(t, k, s, p, d, ceil), x, y.shape)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(gx, tgx, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("xs,k,s,p,d,ceil", [c for c in TORCH_POOLS if c[4] == (1, 1)])
def test_avg_pool2d_matches_torch(xs, k, s, p, d, ceil, include):
    x = np.random.default_rng(2).normal(size=xs).astype("float32")
    y, gx = _run(lambda v: pool.avg_pool2d(v, k, s, p, ceil, include), x)
    ty, tgx = _torch(lambda t: F.avg_pool2d(t, k, s, p, ceil, include), x, y.shape)
    np.testing.assert_allclose(y, ty, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx, tgx, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("xs,out", [((2, 3, 7, 9), (3, 4)), ((1, 2, 5, 5), (5, 2)), ((2, 2, 6, 4), (1, 1)),
                                    ((1, 1, 3, 3), (5, 4))])
def test_adaptive_avg_pool2d_matches_torch(xs, out):
    x = np.random.default_rng(3).normal(size=xs).astype("float32")
    y, gx = _run(lambda v: pool.adaptive_avg_pool2d(v, out), x)
    ty, tgx = _torch(lambda t: F.adaptive_avg_pool2d(t, out), x, y.shape)
    np.testing.assert_allclose(y, ty, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx, tgx, rtol=1e-5, atol=1e-6)


def test_pool1d_matches_torch():
    x = _distinct(np.random.default_rng(4), (2, 3, 11)).astype("float32")
    y, gx = _run(lambda v: pool.max_pool1d(v, 3, 2, 1, 2, True), x)
    ty, tgx = _torch(lambda t: F.max_pool1d(t, 3, 2, 1, 2, True), x, y.shape)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(gx, tgx, rtol=1e-6)
    y, gx = _run(lambda v: pool.avg_pool1d(v, 4, 3, 2, True, False), x)
    ty, tgx = _torch(lambda t: F.avg_pool1d(t, 4, 3, 2, True, False), x, y.shape)
    np.testing.assert_allclose(y, ty, rtol=1e-5)
    np.testing.assert_allclose(gx, tgx, rtol=1e-5, atol=1e-7)


def test_global_avg_pool2d_is_the_spatial_mean():
    x = np.random.default_rng(5).normal(size=(2, 3, 4, 5))
    y, gx = _run(pool.global_avg_pool2d, x)
    np.testing.assert_allclose(y, x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    r = np.random.default_rng(0).normal(size=(2, 3, 1, 1))
    np.testing.assert_allclose(gx, np.broadcast_to(r / 20, x.shape), rtol=1e-12)


def test_pool_family_gradients_in_float64():
    x = _distinct(np.random.default_rng(6), (2, 2, 7, 6))
    for fn in (lambda v: gn.max_pool2d(v, 3, 2, (1, 0, 0, 1), 1, True),
               lambda v: gn.max_pool2d(v, 2, 1, 1, dilation=2),
               lambda v: pool.avg_pool2d(v, 3, 2, 1, True, False),
               lambda v: pool.adaptive_avg_pool2d(v, (4, 4))):
        gn.check_grad(fn, x, tol=1e-6)


def test_backward_reuses_the_forward_choice_and_matches_recomputing():
    # In a training step the backward scatters through the positions the forward chose (a CallContext fact);
    # alone, max_pool2d_grad recomputes them. Both must give the same gradient, ties included.
    x = np.round(np.random.default_rng(7).normal(size=(3, 2, 8, 8)), 1).astype("float32")  # many ties
    gy = np.random.default_rng(8).normal(size=(3, 2, 4, 4)).astype("float32")
    _, gx_step = _run(lambda v: gn.max_pool2d(v, 2), x, gy_seed=9)
    with gn.Graph() as g:
        xv, gyv = gn.input("x", x.shape), gn.input("gy", gy.shape)
        alone = pool.max_pool2d_grad(xv, gyv, 2)
    r = np.random.default_rng(9).normal(size=(3, 2, 4, 4)).astype("float32")
    np.testing.assert_array_equal(gn.compile(g, outputs={"gx": alone})(x=x, gy=r)["gx"], gx_step)
    np.testing.assert_array_equal(gx_step, _torch(lambda t: F.max_pool2d(t, 2), x, (3, 2, 4, 4), 9)[1])


def test_pool_errors_at_build_time():
    with gn.Graph():
        x = gn.input("x", (None, 3, 4, 4))
        with pytest.raises(gn.ShapeError, match=r"larger than the padded input 4 \+ 0 \+ 0") as e:
            gn.max_pool2d(x, 5)
        assert "test_pool.py" in str(e.value)
        with pytest.raises(gn.ShapeError, match="larger than the padded input"):
            pool.avg_pool2d(x, (2, 3), padding=0, stride=1, dilation=(1, 3))
        with pytest.raises(gn.ShapeError, match="smaller than the"):
            pool.avg_pool2d(x, 2, padding=(0, 0, 2, 0))
        with pytest.raises(gn.ShapeError, match="rank 4"):
            pool.avg_pool2d(gn.input("x3", (2, 3, 4)), 2)
        with pytest.raises(gn.ShapeError, match="output_size"):
            pool.adaptive_avg_pool2d(x, (0, 2))
        with pytest.raises(gn.ShapeError, match="rank-3"):
            pool.max_pool1d(x, 2)
        with pytest.raises(gn.ShapeError, match="static"):
            gn.max_pool2d(gn.input("xs", (1, 3, "h", 4)), 2)


@pytest.mark.parametrize("size", [1, 3, 5])  # odd: for even sizes PyTorch's window leans the other way from ONNX's
def test_lrn_matches_torch(size):
    x = np.random.default_rng(10).normal(size=(2, 6, 3, 4))
    y, gx = _run(lambda v: pool.lrn(v, size, 1e-2, 0.75, 2.0), x)
    ty, tgx = _torch(lambda t: F.local_response_norm(t, size, 1e-2, 0.75, 2.0), x, y.shape)
    np.testing.assert_allclose(y, ty, rtol=1e-10)
    np.testing.assert_allclose(gx, tgx, rtol=1e-9, atol=1e-12)


def test_lrn_even_size_uses_onnx_window():
    x = np.random.default_rng(11).normal(size=(1, 5, 2, 2))
    y, _ = _run(lambda v: pool.lrn(v, 4, 0.1, 0.5, 1.0), x)
    sq = np.pad(x * x, ((0, 0), (1, 2), (0, 0), (0, 0)))  # floor(3/2) = 1 channel before, ceil(3/2) = 2 after
    s = np.stack([sq[:, c:c + 4].sum(axis=1) for c in range(5)], axis=1)
    np.testing.assert_allclose(y, x / (1.0 + 0.1 / 4 * s) ** 0.5, rtol=1e-12)
