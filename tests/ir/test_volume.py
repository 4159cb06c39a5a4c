"""gn.conv3d, gn.conv_transpose3d, gn.max_pool3d, gn.avg_pool3d (the 2-D ops over depth-folded planes): values
against PyTorch's conv3d / conv_transpose3d / max_pool3d / avg_pool3d, gradients against float64 finite differences, build-time errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

torch = pytest.importorskip("torch", reason="PyTorch's 3-D ops are the reference here")
F = torch.nn.functional


def _run(build, x: np.ndarray, *more: np.ndarray) -> np.ndarray:
    with gn.Graph() as g:
        vals = [gn.input(f"i{i}", a.shape, str(a.dtype)) for i, a in enumerate((x, *more))]
        y = build(*vals)
    return gn.compile(g, outputs={"y": y})(**{f"i{i}": a for i, a in enumerate((x, *more))})["y"]


CONV_CASES = [  # x shape, w shape, stride, padding (torch: symmetric per axis), dilation, groups
    ((2, 4, 5, 6, 7), (6, 2, 3, 2, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1), 2),
    ((1, 3, 7, 6, 5), (4, 3, 3, 3, 2), (2, 1, 2), (1, 2, 0), (1, 1, 1), 1),
    ((2, 2, 8, 5, 6), (2, 1, 2, 3, 3), (3, 2, 1), (2, 1, 1), (2, 1, 2), 2),
]


@pytest.mark.parametrize("xs,ws,s,p,d,g", CONV_CASES, ids=["groups", "stride-pad", "dilated-depthwise"])
def test_conv3d_matches_torch(xs, ws, s, p, d, g):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype("float32"), rng.standard_normal(ws).astype("float32")
    out = _run(lambda a, b: gn.conv3d(a, b, s, p, d, g), x, w)
    ref = F.conv3d(torch.from_numpy(x), torch.from_numpy(w), None, s, p, d, g).numpy()
    assert out.shape == ref.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_conv3d_asymmetric_pads_match_padded_torch():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 4, 5, 3)), rng.standard_normal((3, 2, 2, 3, 2))
    out = _run(lambda a, b: gn.conv3d(a, b, (1, 2, 1), (1, 0, 2, 0, 2, 1)), x, w)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 0), (0, 2), (2, 1)))
    ref = F.conv3d(torch.from_numpy(xp), torch.from_numpy(w), stride=(1, 2, 1)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)


CT_CASES = [  # x shape, w shape, stride, padding, output_padding, dilation, groups
    ((2, 4, 3, 4, 3), (4, 3, 3, 2, 3), (2, 1, 2), (1, 0, 1), (1, 0, 0), (1, 1, 1), 2),
    ((1, 2, 4, 3, 3), (2, 2, 2, 3, 2), (1, 2, 1), (0, 1, 0), (0, 1, 0), (2, 1, 1), 1),
    ((2, 3, 2, 3, 4), (3, 1, 3, 2, 2), (3, 1, 2), (2, 0, 1), (2, 0, 1), (1, 1, 2), 3),
]


@pytest.mark.parametrize("xs,ws,s,p,op,d,g", CT_CASES, ids=["groups-outpad", "dilated", "depthwise-stride3"])
def test_conv_transpose3d_matches_torch(xs, ws, s, p, op, d, g):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(xs).astype("float32"), rng.standard_normal(ws).astype("float32")
    out = _run(lambda a, b: gn.conv_transpose3d(a, b, s, p, op, g, d), x, w)
    ref = F.conv_transpose3d(torch.from_numpy(x), torch.from_numpy(w), None, s, p, op, g, d).numpy()
    assert out.shape == ref.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


POOL_CASES = [  # x shape, kernel, stride, padding (torch: symmetric), ceil_mode
    ((2, 3, 6, 6, 5), (2, 2, 2), (2, 2, 2), (0, 0, 0), False),
    ((1, 2, 7, 5, 6), (3, 2, 3), (2, 1, 2), (1, 1, 1), False),
    ((2, 2, 6, 7, 5), (3, 3, 2), (2, 2, 2), (1, 0, 1), True),
]


@pytest.mark.parametrize("xs,k,s,p,ceil", POOL_CASES, ids=["plain", "pad", "ceil"])
def test_max_pool3d_matches_torch(xs, k, s, p, ceil):
    x = np.random.default_rng(2).standard_normal(xs).astype("float32")
    out = _run(lambda a: gn.max_pool3d(a, k, s, p, ceil_mode=ceil), x)
    ref = F.max_pool3d(torch.from_numpy(x), k, s, p, ceil_mode=ceil).numpy()
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


def test_max_pool3d_dilated_matches_torch():
    x = np.random.default_rng(3).standard_normal((1, 2, 8, 7, 6)).astype("float32")
    out = _run(lambda a: gn.max_pool3d(a, 2, 1, (1, 0, 1), dilation=(2, 2, 1)), x)
    ref = F.max_pool3d(torch.from_numpy(x), 2, 1, (1, 0, 1), dilation=(2, 2, 1)).numpy()
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("include", [True, False], ids=["include-pad", "exclude-pad"])
@pytest.mark.parametrize("xs,k,s,p,ceil", POOL_CASES, ids=["plain", "pad", "ceil"])
def test_avg_pool3d_matches_torch(xs, k, s, p, ceil, include):
    x = np.random.default_rng(4).standard_normal(xs).astype("float32")
    out = _run(lambda a: gn.avg_pool3d(a, k, s, p, ceil, include), x)
    ref = F.avg_pool3d(torch.from_numpy(x), k, s, p, ceil, include).numpy()
    assert out.shape == ref.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


def test_gradients_by_finite_differences():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 4, 4, 4, 3)), rng.standard_normal((2, 2, 2, 2, 2))
    gn.check_grad(lambda a, b: gn.conv3d(a, b, (2, 1, 1), (1, 0, 1, 0, 1, 0), (1, 2, 1), 2), x, w, tol=1e-6)
    gn.check_grad(lambda a: gn.avg_pool3d(a, 2, (1, 2, 1), 1, True, False), x, tol=1e-6)
    wt = rng.standard_normal((4, 1, 2, 2, 2))
    gn.check_grad(lambda a, b: gn.conv_transpose3d(a, b, (2, 1, 2), (1, 0, 0, 0, 1, 1), (1, 0, 0), 2, (1, 2, 1)),
                  x, wt, tol=1e-6)
    xd = rng.permutation(192).reshape(1, 4, 4, 4, 3) / 7.0  # distinct values: max is differentiable there
    gn.check_grad(lambda a: gn.max_pool3d(a, (2, 3, 2), (2, 1, 2), (1, 1, 0)), xd, tol=1e-6)


def test_gradients_match_torch():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 2, 5, 4, 4)), rng.standard_normal((3, 2, 3, 2, 2))
    with gn.Graph() as g:
        xv, wv = gn.input("x", x.shape, "float64"), gn.input("w", w.shape, "float64")
        y = gn.conv3d(xv, wv, (2, 1, 1), 1) + gn.max_pool3d(gn.conv3d(xv, wv, (2, 1, 1), 1), 1)
        loss = gn.sum(gn.avg_pool3d(y * y, 2, 1, 1, count_include_pad=False))
        gx, gw = gn.grad(loss, [xv, wv])
    out = gn.compile(g, outputs={"gx": gx, "gw": gw})(x=x, w=w)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = F.conv3d(tx, tw, None, (2, 1, 1), 1)
    ty = ty + F.max_pool3d(ty, 1)
    F.avg_pool3d(ty * ty, 2, 1, 1, count_include_pad=False).sum().backward()
    np.testing.assert_allclose(out["gx"], tx.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out["gw"], tw.grad.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("build,match", [
    (lambda x: gn.conv3d(x, gn.constant(np.zeros((3, 1, 2, 2, 2), "float32")), groups=3), "groups 3 must divide"),
    (lambda x: gn.conv3d(x, gn.constant(np.zeros((2, 4, 5, 2, 2), "float32"))), "larger than the padded"),
    (lambda x: gn.conv3d(x, gn.constant(np.zeros((2, 4, 2, 2), "float32"))), "rank-5"),
    (lambda x: gn.max_pool3d(x, (5, 2, 2)), "larger than the padded"),
    (lambda x: gn.avg_pool3d(x, 2, 1, (2, 0, 0)), "smaller than the"),
    (lambda x: gn.max_pool3d(x, (2, 9, 2)), "larger than the padded"),
    (lambda x: gn.conv_transpose3d(x, gn.constant(np.zeros((4, 1, 2, 2, 2), "float32")), 1, (3, 0, 0)),
     "output depth -1 does not fit"),
    (lambda x: gn.conv_transpose3d(x, gn.constant(np.zeros((4, 1, 2, 2, 2), "float32")), groups=3), "groups 3"),
])
def test_bad_input_is_a_shape_error_at_build_time(build, match):
    with gn.Graph():
        x = gn.input("x", (None, 4, 4, 5, 5))
        with pytest.raises(gn.ShapeError, match=match):
            build(x)
