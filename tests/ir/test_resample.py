"""pad and resize: values and gradients against PyTorch (F.pad, F.interpolate), float64 finite differences for the
gradient ops, and the build-time errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.ops import resample as R

torch = pytest.importorskip("torch", reason="torch is the reference for F.pad and F.interpolate")
F = torch.nn.functional


def _both(fn, tfn, x: np.ndarray) -> None:
    with gn.Graph() as g:
        xv = gn.input("x", x.shape, str(x.dtype))
        y = fn(xv)
        r = gn.constant(np.random.default_rng(0).normal(size=tuple(y.shape)).astype(x.dtype))
        (gx,) = gn.grad(gn.sum(y * r), [xv])
    out = gn.compile(g, outputs={"y": y, "gx": gx})(x=x)
    xt = torch.tensor(x, requires_grad=True)
    yt = tfn(xt)
    (yt * torch.tensor(np.asarray(g.constants[r.id]))).sum().backward()
    np.testing.assert_allclose(out["y"], yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["gx"], xt.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode,tmode", [("constant", "constant"), ("reflect", "reflect"), ("edge", "replicate")])
def test_pad_matches_torch(mode, tmode):
    x = np.random.default_rng(1).normal(size=(2, 3, 5, 6)).astype("float32")
    _both(lambda v: R.pad(v, ((0, 0), (0, 0), (2, 1), (3, 4)), mode), lambda t: F.pad(t, (3, 4, 2, 1), tmode), x)


@pytest.mark.parametrize("size,scale,mode,align", [
    ((7, 9), None, "nearest", None), (None, 2.0, "nearest", None), ((3, 4), None, "nearest", None),
    ((7, 9), None, "bilinear", False), ((7, 9), None, "bilinear", True), (None, 1.5, "bilinear", False),
    ((3, 2), None, "bilinear", False), ((3, 2), None, "bilinear", True)])
def test_upsample_matches_torch_interpolate(size, scale, mode, align):
    x = np.random.default_rng(2).normal(size=(2, 3, 5, 6)).astype("float32")
    _both(lambda v: R.upsample(v, size, scale, mode, align),
          lambda t: F.interpolate(t, size=size, scale_factor=scale, mode=mode, align_corners=align), x)


def test_linear_1d_matches_torch():
    x = np.random.default_rng(3).normal(size=(2, 3, 7)).astype("float32")
    _both(lambda v: R.upsample(v, 11, None, "linear", False), lambda t: F.interpolate(t, 11, mode="linear"), x)


def test_backward_ops_against_finite_differences():
    x = np.random.default_rng(4).normal(size=(1, 2, 4, 5))
    for mode in ("reflect", "edge", "constant"):
        gn.check_grad(lambda v, m=mode: R.pad(v, ((0, 0), (1, 0), (2, 3), (1, 2)), m), x, tol=1e-7)
    gn.check_grad(lambda v: R.resize(v, size=(6, 3), mode="linear", coord="half_pixel"), x, tol=1e-7)
    gn.check_grad(lambda v: R.resize_grad_op(v, (2, 3), (4, 5), "linear", "align_corners"), x, tol=1e-7)


def test_errors_at_build_time():
    with gn.Graph():
        x = gn.input("x", (None, 3, 4, 4))
        with pytest.raises(gn.ShapeError, match="scales") as e:
            R.resize(x, scales=0.0)
        assert "test_resample.py" in str(e.value)
        with pytest.raises(gn.ShapeError, match="scales"):
            R.resize(x, scales=(2.0, -1.0))
        with pytest.raises(gn.ShapeError, match="exactly one"):
            R.resize(x)
        with pytest.raises(gn.ShapeError, match="smaller than its size"):
            R.pad(x, ((0, 0), (0, 0), (4, 0), (0, 0)), "reflect")
        with pytest.raises(gn.ShapeError, match="symbolic"):
            R.pad(x, ((1, 0), (0, 0), (0, 0), (0, 0)))
        with pytest.raises(gn.ShapeError, match="mode"):
            R.pad(x, ((0, 0),) * 4, "wrap")
