"""layer_norm's backward as one closed-form op (layer_norm_grad): gn.grad of layer_norm emits it, its kernels (the
compiled one and the plain NumPy one, GRAPHNN_NO_NUMBA=1) equal the gradients written in NumPy here on batch 1,
odd sizes and two normalized axes, the forward kernels equal the definition, and its own gradient (layer norm's
second order, also when gy depends on x) passes float64 finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.ops.norm import layer_norm_grad
from graphnn.passes.autodiff import expand_gradients


def _np_grads(x: np.ndarray, gamma: np.ndarray, g: np.ndarray, axis: int, eps: float) -> tuple[np.ndarray, ...]:
    """(gx, ggamma, gbeta) of gamma xhat + beta, written from the definition in float64."""
    x, g, gamma = (a.astype(np.float64) for a in (x, g, gamma))
    r, lead = tuple(range(axis, x.ndim)), tuple(range(axis))
    n = int(np.prod(x.shape[axis:]))
    mu = x.mean(axis=r, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=r, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    gh = g * gamma
    gx = (n * gh - gh.sum(axis=r, keepdims=True) - xhat * (gh * xhat).sum(axis=r, keepdims=True)) / (
        n * np.sqrt(var + eps))
    return gx, (g * xhat).sum(axis=lead), g.sum(axis=lead)


def test_grad_of_layer_norm_is_one_layer_norm_grad_node() -> None:
    with gn.Graph("a") as g:
        x, gm, bt = gn.input("x", (None, 6)), gn.input("gm", (6,)), gn.input("bt", (6,))
        grads = gn.grad(gn.sum(gn.layer_norm(x, gm, bt) * gn.constant(np.arange(6.0, dtype=np.float32))), [x, gm, bt])
    ops = [n.op for n in expand_gradients(g.copy()).nodes]
    assert ops.count("layer_norm_grad") == 1 and "mean" not in ops and "sqrt" not in ops
    assert [v.shape for v in grads] == [x.shape, (6,), (6,)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,axis", [((1, 7), 1), ((3, 5, 4), 1), ((2, 3, 64), 2), ((4, 1), 1)])
def test_gradients_match_numpy(kernel_path: str, dtype: str, shape: tuple, axis: int) -> None:
    rng = np.random.default_rng(0)
    xv = (rng.standard_normal(shape) * 3 + 5).astype(dtype)  # a large mean: the two-pass variance must hold
    gv = rng.standard_normal(shape).astype(dtype)
    gam, bet = (rng.standard_normal(shape[axis:]).astype(dtype) for _ in range(2))
    with gn.Graph("a") as g:
        x = gn.input("x", (None, *shape[1:]), dtype)
        gm, bt = gn.input("gm", shape[axis:], dtype), gn.input("bt", shape[axis:], dtype)
        y = gn.layer_norm(x, gm, bt, axis=axis, eps=1e-3)
        gx, ggm, gbt = gn.grad(gn.sum(y * gn.input("w", (None, *shape[1:]), dtype)), [x, gm, bt])
    out = gn.compile(g, outputs={"y": y, "gx": gx, "ggm": ggm, "gbt": gbt})(x=xv, gm=gam, bt=bet, w=gv)
    tol = {"rtol": 2e-4, "atol": 2e-5} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}
    r = tuple(range(axis, len(shape)))
    x64 = xv.astype(np.float64)
    mu = x64.mean(axis=r, keepdims=True)
    want_y = (x64 - mu) / np.sqrt(((x64 - mu) ** 2).mean(axis=r, keepdims=True) + 1e-3) * gam + bet
    np.testing.assert_allclose(out["y"], want_y, **tol)
    for got, want in zip((out["gx"], out["ggm"], out["gbt"]), _np_grads(xv, gam, gv, axis, 1e-3)):
        assert got.dtype == np.dtype(dtype) and got.shape == want.shape
        np.testing.assert_allclose(got, want, **tol)


def test_non_contiguous_input_and_constant_row(kernel_path: str) -> None:
    """x a transposed view inside the graph, and a row of equal values (var 0: xhat 0, finite gradients)."""
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((5, 3)).astype(np.float32)
    xv[:, 1] = 2.0
    gv = rng.standard_normal((3, 5)).astype(np.float32)
    gam = rng.standard_normal(5).astype(np.float32)
    with gn.Graph("a") as g:
        x = gn.input("x", (5, 3))
        gx, ggm = layer_norm_grad(gn.transpose(x, (1, 0)), gn.constant(gam), gn.constant(gv), axis=1)
    out = gn.compile(g, outputs={"gx": gx, "ggm": ggm})(x=xv)
    want = _np_grads(xv.T, gam, gv, 1, 1e-5)
    np.testing.assert_allclose(out["gx"], want[0], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(out["ggm"], want[1], rtol=1e-4, atol=1e-5)
    assert np.isfinite(out["gx"]).all()


def test_own_gradient_and_second_order_by_finite_differences() -> None:
    rng = np.random.default_rng(2)
    x, gm, gy = rng.standard_normal((3, 5)) * 2, rng.standard_normal(5), rng.standard_normal((3, 5))
    report = gn.check_grad(lambda a, b, c: gn.sum(layer_norm_grad(a, b, c)[0] ** 2) + gn.sum(
        layer_norm_grad(a, b, c)[1] * gn.constant(np.arange(5.0))), x, gm, gy)
    assert report.worst < 1e-6, str(report)

    def second(a: gn.Value, b: gn.Value) -> gn.Value:  # gy depends on x here: the rule must treat it as an input
        y = gn.layer_norm(a, b, gn.constant(np.zeros(5)))
        da, db = gn.grad(gn.sum(y * y * y), [a, b])
        return gn.sum(da * da) + gn.sum(db * db)

    report = gn.check_grad(second, x, gm)
    assert report.worst < 1e-6, str(report)


def test_bad_input_is_refused_at_the_users_line() -> None:
    with gn.Graph("a"):
        x, gm = gn.input("x", (None, 4)), gn.input("gm", (4,))
        with pytest.raises(gn.ShapeError, match=r"gy must have x's shape(.|\n)*test_layer_norm_grad.py"):
            layer_norm_grad(x, gm, gn.input("g", (None, 5)))
        with pytest.raises(gn.ShapeError, match="gamma must have the normalized shape"):
            layer_norm_grad(x, gn.input("g3", (3,)), x)
        with pytest.raises(gn.DTypeError):
            layer_norm_grad(x, gm, gn.input("g64", (None, 4), "float64"))
