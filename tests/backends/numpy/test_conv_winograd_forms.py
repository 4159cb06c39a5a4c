"""Which Winograd form a convolution takes (F(4x4, 3x3), F(2x2, 3x3) or the GEMM path), and F(4x4, 3x3) against a
float64 convolution written in the test: odd sizes, pads 0-2 and asymmetric ones, channel counts that are not
powers of two, batch 1, the bias + ReLU epilogue, the kernel-transform cache across forms, and the input gradient
of a compiled graph (which runs F(4x4, 3x3) on gy) against the gradient written from the definition."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends import compiled
from graphnn.backends.compiled import winograd as cw
from graphnn.backends.numpy.conv import algorithm

pytestmark = pytest.mark.skipif(compiled.kernels("winograd4") is None, reason="numba is not installed (extra `fast`)")


def ref_conv(x: np.ndarray, w: np.ndarray, pads: tuple) -> np.ndarray:
    """Cross-correlation of NCHW x with (K, C, 3, 3) w in float64, pads (top, left, bottom, right), stride 1."""
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho, wo = xp.shape[2] - 2, xp.shape[3] - 2
    y = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for a in range(3):
        for b in range(3):
            y += np.einsum("nchw,kc->nkhw", xp[:, :, a:a + ho, b:b + wo], w[:, :, a, b].astype(np.float64))
    return y


def wino(pads: tuple, c: int, k: int, dtype: object = np.float32, stride: tuple = (1, 1)) -> cw.Winograd | None:
    return cw.Winograd.of(np, (3, 3), stride, (1, 1), 1, pads, c, k, dtype)


def test_the_form_follows_channels_and_tiles() -> None:
    assert cw.form_for(1, 64, 32, 32) is cw.F43  # 8 x 8 tiles of 4x4
    assert cw.form_for(1, 64, 16, 16) is cw.F23  # 16 tiles of 4x4 are too few; 64 of 2x2 are enough
    assert cw.form_for(64, 32, 16, 16) is cw.F23  # 32 channels: F(4x4, 3x3) does not pay
    assert cw.form_for(1, 64, 14, 14) is None  # 49 tiles of 2x2
    assert cw.form_for(4, 64, 17, 15) is cw.F43  # 5 x 4 tiles per sample, partly past the edge
    assert wino((1, 1, 1, 1), 64, 64) is not None
    assert wino((1, 1, 1, 1), 31, 64) is None  # too few input channels
    assert wino((1, 1, 1, 1), 64, 8) is None  # too few output channels
    assert wino((1, 1, 1, 1), 64, 64, np.int32) is None
    assert wino((1, 1, 1, 1), 64, 64, stride=(2, 2)) is None
    assert wino((-1, 1, 1, 1), 64, 64) is None  # a cropping pad


CASES = [((4, 64, 17, 15), 16, (1, 1, 1, 1)), ((1, 64, 34, 33), 33, (0, 0, 0, 0)),
         ((4, 70, 13, 14), 20, (2, 1, 0, 2)), ((1, 96, 31, 29), 64, (1, 1, 1, 1))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("xs,k,pads", CASES)
def test_f43_equals_the_float64_convolution(xs: tuple, k: int, pads: tuple, dtype: str) -> None:
    rng = np.random.default_rng(sum(xs))
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal((k, xs[1], 3, 3)) / np.sqrt(9 * xs[1])).astype(dtype)
    ref = ref_conv(x, w, pads)
    assert cw.form_for(xs[0], xs[1], *ref.shape[2:]) is cw.F43
    y = wino(pads, xs[1], k, dtype)(x, w, np.full(ref.shape, np.nan, dtype))
    scale = np.abs(ref).max()
    # float32: F(4x4, 3x3)'s error is ~1e-5 of the largest output over 64-96 channels; float64: rounding only
    assert np.abs(y - ref).max() <= (5e-5 if dtype == "float32" else 1e-12) * scale


def test_f43_epilogue_and_the_kernel_cache_across_forms() -> None:
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((32, 64, 3, 3)) / 24).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    wn = wino((1, 1, 1, 1), 64, 32)
    spy: list[str] = []

    class Counting:  # counts kernel transforms per form, delegating everything else
        def __init__(self, m: object, name: str) -> None:
            self.m, self.name = m, name

        def __getattr__(self, a: str) -> object:
            return getattr(self.m, a)

        def kernel_tiles(self, w_: np.ndarray, u: np.ndarray) -> None:
            spy.append(self.name)
            self.m.kernel_tiles(w_, u)

    wn.mods = {name: Counting(m, name) for name, m in wn.mods.items()}
    big = rng.standard_normal((3, 64, 20, 20)).astype(np.float32)
    small = rng.standard_normal((1, 64, 16, 16)).astype(np.float32)
    for x, form in ((big, cw.F43), (small, cw.F23), (big, cw.F43), (small, cw.F23)):
        assert cw.form_for(x.shape[0], 64, *x.shape[2:]) is form
        y = wn(x, w, np.empty((x.shape[0], 32, *x.shape[2:]), np.float32), bias=b, relu=True)
        ref = np.maximum(ref_conv(x, w, (1, 1, 1, 1)) + b[None, :, None, None], 0)
        np.testing.assert_allclose(y, ref, rtol=0, atol=5e-5 * np.abs(ref).max())
    assert spy == ["winograd4", "winograd"]  # each form transformed the kernel once
    w[0, 0, 0, 0] += 1.0  # changed in place: both forms must notice
    for x in (big, small):
        y = wn(x, w, np.empty((x.shape[0], 32, *x.shape[2:]), np.float32))
        np.testing.assert_allclose(y, ref_conv(x, w, (1, 1, 1, 1)), rtol=0, atol=5e-5 * np.abs(y).max())
    assert spy == ["winograd4", "winograd", "winograd4", "winograd"]


def test_input_gradient_through_f43_equals_the_definition() -> None:
    """gx of sum(r * conv2d(x, w)) is the full correlation of r with the flipped kernel: written here as the
    scatter of r[n, k, i, j] * w[k] into the windows, in float64; the compiled graph runs it as F(4x4, 3x3) on r."""
    rng = np.random.default_rng(5)
    xs, k = (2, 16, 22, 21), 64
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((k, 16, 3, 3)) / 12).astype(np.float32)
    r = rng.standard_normal((2, k, 22, 21)).astype(np.float32)
    with gn.Graph("gx") as g:
        xi, ri = gn.input("x", xs, "float32"), gn.input("r", r.shape, "float32")
        wp = gn.param("w", w.shape, "float32", init=w)
        loss = gn.sum(ri * gn.conv2d(xi, wp, padding=1))
        gx, = gn.grad(loss, [xi])
    fn = gn.compile(g, outputs={"gx": gx})
    node = next(n for n in fn.graph.nodes if n.op == "conv2d_input_grad")
    assert algorithm(node, {}).startswith("Winograd F(4x4, 3x3)"), algorithm(node, {})
    want = np.zeros((2, 16, 24, 23))
    for a in range(3):
        for b in range(3):
            wab = w[:, :, a, b].astype(np.float64)
            want[:, :, a:a + 22, b:b + 21] += np.einsum("nkhw,kc->nchw", r.astype(np.float64), wab)
    want = want[:, :, 1:23, 1:22]
    got = fn(x=x, r=r)["gx"]
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-5 * np.abs(want).max())
