"""The Winograd F(2x2, 3x3) path of 3x3 stride-1 convolutions (backends/compiled/winograd.py, compiled
transforms in backends/compiled/winograd_kernels.py; issue 16): the driver against float64 references written
here over many geometries and both float dtypes, its bias + ReLU epilogue, the kernel-transform cache, strided
arrays, two workers; and every conformance case of cases_conv_winograd.py really running on it. The dispatch
through compiled graphs and `algorithm(node, env)` are in test_conv_winograd_dispatch.py.

Tolerances: F(2x2, 3x3)'s transforms combine at most 4 values with coefficients 0, +-1/2, +-1 per stage, so its
rounding error is a small multiple of the unit roundoff u times sum |x| |w| over a tile (Lavin and Gray 2016).
We bound the error by 16 u * max(conv(|x|, |w|)): 1e-6 in float32, 2e-15 in float64; the worst measured over
300 random geometries was 2.2 u in float32 (1.3e-7) and 3 u in float64 (3.4e-16).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import graphnn as gn
from graphnn.backends import compiled
from graphnn.backends.compiled.winograd import Winograd
from graphnn.backends.numpy.conv import algorithm, blocks_on, winograd_of
from graphnn.backends.numpy.conv_gemm import Geo

from ...conformance.cases import build_case, draw
from ...conformance.cases_conv_winograd import CASES as WINOGRAD_CASES
from ..cupy.standin import cupy as standin_cupy

TOL = {np.float32: 16 * 2.0 ** -24, np.float64: 16 * 2.0 ** -53}
WINOGRAD_WORDS = "Winograd F(2x2, 3x3): compiled transforms + 16 GEMMs per block of samples"  # fewer than 64 channels


def _ref(x: np.ndarray, w: np.ndarray, pads: tuple) -> np.ndarray:
    """conv2d in float64 from the definition: every 3x3 window of the zero-padded x against w."""
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    return np.einsum("nchwab,kcab->nkhw", sliding_window_view(xp, (3, 3), axis=(2, 3)), w.astype(np.float64))


def _check(y: np.ndarray, x: np.ndarray, w: np.ndarray, pads: tuple, want: np.ndarray | None = None) -> None:
    """y equals the reference (or `want`) within TOL of the largest sum |x| |w|."""
    want = _ref(x, w, pads) if want is None else want
    scale = _ref(np.abs(x), np.abs(w), pads).max()
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=0, atol=TOL[y.dtype.type] * scale)


@pytest.fixture
def wino() -> Any:
    """A factory of drivers (pads, c, k, dtype) -> Winograd; skips where numba is missing or switched off."""
    if compiled.kernels("winograd") is None:
        pytest.skip("numba is not installed (extra `fast`) or GRAPHNN_NO_NUMBA is set")

    def make(pads: tuple, c_in: int = 32, k: int = 16, dtype: Any = np.float32) -> Winograd:
        d = winograd_of(np, Geo(3, 3, 1, 1, *pads, 1, 1, 1), c_in, k, dtype)
        assert d is not None
        return d

    return make


def _run(d: Winograd, x: np.ndarray, w: np.ndarray, pads: tuple, **kw: Any) -> np.ndarray:
    """The driver's y, in a NaN-filled buffer (an element it never writes stays NaN)."""
    ho, wo = x.shape[2] + pads[0] + pads[2] - 2, x.shape[3] + pads[1] + pads[3] - 2
    y = np.full((x.shape[0], w.shape[0], ho, wo), np.nan, x.dtype)
    assert d(x, w, y, **kw) is y
    return y


def _geometries(count: int, seed: int) -> list[tuple]:
    """Random (n, c, k, h, w, pads): H, W in 1..9, pads 0..3 per side with outputs >= 1x1, channel counts that
    are multiples of nothing in particular."""
    rng, out = np.random.default_rng(seed), []
    while len(out) < count:
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        pads = tuple(int(p) for p in rng.integers(0, 4, 4))
        if h + pads[0] + pads[2] >= 3 and w + pads[1] + pads[3] >= 3:
            out.append((int(rng.integers(1, 5)), int(rng.integers(32, 46)), int(rng.integers(16, 24)), h, w, pads))
    return out


def test_only_numpy_float32_and_float64_take_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver is host-only (numba on NumPy arrays, so it lives in backends/compiled): any other array module
    (CuPy) or dtype gets None, and so does everything with numba switched off."""
    geo = Geo(3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    assert winograd_of(standin_cupy, geo, 32, 16, np.float32) is None
    assert winograd_of(np, geo, 32, 16, np.float16) is None and winograd_of(np, geo, 32, 16, np.int32) is None
    monkeypatch.setenv("GRAPHNN_NO_NUMBA", "1")
    assert winograd_of(np, geo, 32, 16, np.float32) is None
    monkeypatch.delenv("GRAPHNN_NO_NUMBA")
    if compiled.kernels("winograd") is not None:
        assert winograd_of(np, geo, 32, 16, np.float32) is not None and winograd_of(np, geo, 32, 16, "float64")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_driver_matches_the_reference_over_random_geometries(wino: Any, dtype: Any) -> None:
    rng = np.random.default_rng(1)
    for n, ci, k, h, w, pads in _geometries(60, 2 if dtype is np.float32 else 3):
        x = rng.standard_normal((n, ci, h, w)).astype(dtype)
        wt = rng.standard_normal((k, ci, 3, 3)).astype(dtype)
        _check(_run(wino(pads, ci, k, dtype), x, wt, pads), x, wt, pads)


@pytest.mark.parametrize("n, hw, pads", [
    (23, (8, 8), (1, 1, 1, 1)),  # 16 tiles a sample: blocks of 16 samples, the last one of 7
    (3, (34, 33), (1, 1, 1, 0)),  # 17 x 16 = 272 tiles a sample, more than a block's 256: blocks of one sample
    (5, (2, 2), (2, 2, 2, 2)),  # the outputs' outer ring sees only padding
])
def test_driver_over_several_blocks_and_wide_maps(wino: Any, n: int, hw: tuple, pads: tuple) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, 32, *hw)).astype(np.float32)
    w = rng.standard_normal((16, 32, 3, 3)).astype(np.float32)
    _check(_run(wino(pads), x, w, pads), x, w, pads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias, relu", [(True, False), (False, True), (True, True)])
def test_bias_and_relu_epilogue(wino: Any, dtype: Any, bias: bool, relu: bool) -> None:
    rng = np.random.default_rng(5)
    pads = (1, 0, 2, 1)
    x = rng.standard_normal((3, 33, 7, 9)).astype(dtype)
    w = rng.standard_normal((17, 33, 3, 3)).astype(dtype)
    b = rng.standard_normal(17).astype(dtype) * 10  # moves whole channels across ReLU's kink
    want = _ref(x, w, pads) + (b.astype(np.float64)[:, None, None] if bias else 0.0)
    want = np.maximum(want, 0.0) if relu else want
    y = _run(wino(pads, 33, 17, dtype), x, w, pads, bias=b if bias else None, relu=relu)
    _check(y, x, w, pads, want)
    if relu:
        assert (y == 0).any() and (y > 0).any() and not (y < 0).any()


@pytest.mark.parametrize("bad, relu", [(np.nan, False), (np.nan, True), (np.inf, False), (-np.inf, False)])
def test_non_finite_x_reaches_exactly_the_outputs_whose_window_holds_it(wino: Any, bad: float, relu: bool) -> None:
    """A NaN or inf at patch positions of both parities, edges included: the outputs it reaches are exactly the
    reference's non-finite ones (F(2x2, 3x3)'s transforms have structural zeros: nothing leaks into a tile's
    other outputs), NaN stays NaN through bias + ReLU, and every other output is exact. (Where the reference
    has +-inf, Winograd may give NaN: it adds the inf with both signs, as (g0 + g1 + g2)/2 and (g0 - g1 + g2)/2.)"""
    rng = np.random.default_rng(6)
    pads = (1, 1, 1, 1)
    x = rng.standard_normal((6, 32, 9, 9)).astype(np.float32)
    w = rng.standard_normal((16, 32, 3, 3)).astype(np.float32)
    for n, (r, q) in enumerate([(0, 0), (4, 6), (3, 5), (8, 8), (8, 0), (1, 2)]):
        x[n, (5 * n) % 32, r, q] = bad
    b = np.full(16, -1e3, np.float32) if relu else None  # ReLU then turns every finite output into 0
    y = _run(wino(pads), x, w, pads, bias=b, relu=relu)
    with np.errstate(invalid="ignore"):
        want = _ref(x, w, pads) + (-1e3 if relu else 0.0)
    want = np.where(np.isnan(want), np.nan, np.maximum(want, 0.0)) if relu else want
    fin = np.isfinite(want)
    assert (~fin).sum() == 16 * (4 + 9 + 9 + 4 + 4 + 9)  # 3x3 output windows, 2x2 at the three corners
    np.testing.assert_array_equal(np.isfinite(y), fin)
    if np.isnan(bad):
        np.testing.assert_array_equal(np.isnan(y), ~fin)
    scale = _ref(np.abs(np.nan_to_num(x, posinf=0, neginf=0)), np.abs(w), pads).max() + 1e3
    np.testing.assert_allclose(y[fin], want[fin], rtol=0, atol=TOL[np.float32] * scale)


class _Spy:
    """Counts calls of the transforms' kernel_tiles through the driver's module."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, d: Winograd) -> None:
        self.calls, inner = 0, d.mods["winograd"].kernel_tiles

        def counted(*a: Any) -> None:
            self.calls += 1
            inner(*a)

        monkeypatch.setattr(d.mods["winograd"], "kernel_tiles", counted)


def test_kernel_transform_is_cached_while_the_bits_stay(wino: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    pads, d = (1, 1, 1, 1), wino((1, 1, 1, 1))
    spy = _Spy(monkeypatch, d)
    x = rng.standard_normal((4, 32, 8, 8)).astype(np.float32)
    w = rng.standard_normal((16, 32, 3, 3)).astype(np.float32)
    for arr in (w, w, w.copy(), np.asfortranarray(w)):  # the same bits, through another array and layout
        _check(_run(d, x, arr, pads), x, w, pads)
    assert spy.calls == 1
    w[3, 7, 2, 1] += 1.0  # changed in place between calls (an optimizer step)
    _check(_run(d, x, w, pads), x, w, pads)
    w.reshape(-1)[-1] = np.nextafter(w.reshape(-1)[-1], np.float32(np.inf))  # one ulp of the last element
    _check(_run(d, x, w, pads), x, w, pads)
    assert spy.calls == 3


def test_kernel_cache_across_shapes_and_dtypes(wino: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    pads, d = (0, 1, 2, 1), wino((0, 1, 2, 1))
    spy = _Spy(monkeypatch, d)
    x = rng.standard_normal((4, 40, 7, 8))
    w = rng.standard_normal((20, 40, 3, 3))
    w_other_k = rng.standard_normal((24, 40, 3, 3))
    w_other_c = np.concatenate([w[:, :36], w[:, :4] * 0.5], axis=1)  # (20, 40), other values
    for xs, ws in [(x, w), (x, w_other_k), (x, w), (x.astype(np.float32), w.astype(np.float32)), (x, w),
                   (x, w_other_c)]:
        _check(_run(d, xs, ws, pads), xs, ws, pads)
    assert spy.calls == 6


def test_kernel_cache_zero_signs_and_nan_bits(wino: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bits, not values: -0.0 after +0.0 recomputes (same results), the same NaN reuses, another NaN recomputes."""
    rng = np.random.default_rng(9)
    pads, d = (1, 1, 1, 1), wino((1, 1, 1, 1))
    spy = _Spy(monkeypatch, d)
    x = rng.standard_normal((4, 32, 8, 8)).astype(np.float32)
    w = rng.standard_normal((16, 32, 3, 3)).astype(np.float32)
    w[2, 3, 1, 1] = 0.0
    y0 = _run(d, x, w, pads)
    w[2, 3, 1, 1] = -0.0
    y1 = _run(d, x, w, pads)
    assert spy.calls == 2
    np.testing.assert_array_equal(y0, y1)
    _check(y1, x, w, pads)
    nan_a = np.array([0x7FC00001], np.uint32).view(np.float32)[0]
    nan_b = np.array([0x7FC00002], np.uint32).view(np.float32)[0]
    for v, bits in ((nan_a, 0x7FC00001), (nan_a, 0x7FC00001), (nan_b, 0x7FC00002)):
        w[5, 0, 2, 2] = v
        assert w[5:6, 0, 2, 2].view(np.uint32)[0] == bits
        y = _run(d, x, w, pads)
        assert np.isnan(y[:, 5]).all()  # every output of channel 5 reads that weight (padding too: 0 * NaN)
        keep = np.arange(16) != 5
        _check(y[:, keep], x, w[keep], pads)
    assert spy.calls == 4
    w[5, 0, 2, 2] = 1.5  # and back to a number
    _check(_run(d, x, w, pads), x, w, pads)


def test_strided_x_w_and_y(wino: Any) -> None:
    rng = np.random.default_rng(10)
    pads = (2, 1, 0, 1)
    x = rng.standard_normal((4, 9, 64, 11)).transpose(0, 2, 1, 3)[:, ::2]  # (4, 32, 9, 11), no unit stride
    w = rng.standard_normal((3, 3, 32, 16)).transpose(3, 2, 0, 1)[:, :, ::-1]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    whole = np.full((4, 16, 9, 2, 11), 7.0)
    y = whole[:, :, :, 1, :]  # (4, 16, 9, 11) inside a larger buffer
    assert wino(pads, dtype=np.float64)(x, w, y) is y
    _check(y, x, w, pads)
    assert (whole[:, :, :, 0, :] == 7.0).all()  # nothing written outside y
    yt = np.full((4, 9, 11, 16), np.nan).transpose(0, 3, 1, 2)  # NHWC memory seen as NCHW
    wino(pads, dtype=np.float64)(x, w, yt, bias=np.arange(16.0), relu=True)
    _check(yt, x, w, pads, np.maximum(_ref(x, w, pads) + np.arange(16.0)[:, None, None], 0))


def test_two_workers_give_the_same_values(wino: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    pads = (1, 1, 1, 1)
    x = rng.standard_normal((96, 32, 16, 16)).astype(np.float32)  # 64 tiles a sample: 24 blocks of 4 samples
    w = rng.standard_normal((16, 32, 3, 3)).astype(np.float32)
    workers: list[int] = []
    runner = blocks_on(np)

    def blocks(*a: Any) -> None:
        workers.append(runner(*a))

    y1 = _run(wino(pads), x, w, pads, blocks=blocks, threads=1)
    y2 = _run(wino(pads), x, w, pads, blocks=blocks, threads=2)
    assert workers == [1, 2]
    _check(y1, x, w, pads)
    _check(y2, x, w, pads)
    np.testing.assert_allclose(y1, y2, rtol=0, atol=1e-5)  # the same blocks' GEMMs: equal up to BLAS's order


# ---- the cases of tests/conformance/cases_conv_winograd.py take the path they exist for ----------------------
class CallSpy:
    """Records (input channels, output channels) of every Winograd call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: Counter = Counter()
        inner = Winograd.__call__

        def spy(d: Winograd, x: Any, w: Any, y: Any, *a: Any, **kw: Any) -> Any:
            self.seen[(x.shape[1], y.shape[1])] += 1
            return inner(d, x, w, y, *a, **kw)

        monkeypatch.setattr(Winograd, "__call__", spy)


@pytest.mark.parametrize("case", WINOGRAD_CASES, ids=lambda case: f"{case.op}-{case.id}")
def test_conformance_cases_take_the_winograd_path(wino: Any, monkeypatch: pytest.MonkeyPatch, case: Any) -> None:
    spy = CallSpy(monkeypatch)
    g, ins, out = build_case(case, "float64")
    node = out.producer
    want_form = "F(4x4, 3x3)" if node.inputs[0].type.shape[1] >= 64 else "F(2x2, 3x3)"
    assert node is not None and algorithm(node, {}).startswith(f"Winograd {want_form}")
    rng = np.random.default_rng(0)
    feeds = {v.name: draw(s, 3, rng, "float64") for v, s in zip(ins, case.inputs)}
    with g:
        gx = gn.grad(gn.sum(out * out), ins[0])
    res = gn.compile(g, outputs={"out": out, "gx": gx})(**feeds)
    assert np.isfinite(res["gx"]).all()
    k = node.outputs[0].type.shape[1]
    want = Counter({(node.inputs[0].type.shape[1], k): 1})
    if case.op == "conv2d" and k >= 32:  # its gradient, an input gradient with k channels of gy, takes it too
        want[(k, node.inputs[0].type.shape[1])] += 1
    assert spy.seen == want
