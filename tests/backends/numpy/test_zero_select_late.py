"""The ReLU gradient's where(h > 0, gy, 0) as a bit mask when gy is a kernel's fresh result (average pooling's
gradient, an allocating kernel; the conv kernels now write into planned buffers), known only at run time: same values as the unfused where, NaN and inf in the dropped branch become
+0.0, and the late bit-mask path is the one planned."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
import graphnn.backends.numpy.fused_elementwise as fe
from graphnn.ir.ops import pool
from graphnn.passes.pipeline import TRAINING


def _graph() -> tuple[gn.Graph, dict]:
    with gn.Graph("late") as g:
        x = gn.input("x", (None, 3, 6, 5), "float32")
        t = gn.input("t", (None, 2, 3, 2), "float32")
        h = gn.relu(gn.nn.Conv2d(3, 4, 3, padding=1)(x))
        y = gn.nn.Conv2d(4, 2, 3, padding=1)(pool.avg_pool2d(h, 2))
        grads = gn.grad(gn.sum(y * t), list(g.params))
    return g, {f"g{i}": d for i, d in enumerate(grads)}


@pytest.mark.parametrize("poison", [False, True])
def test_late_bit_mask_matches_the_unfused_where(poison: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = fe._zero_select_late
    monkeypatch.setattr(fe, "_zero_select_late", lambda *a: (calls.append(1), real(*a)))
    g, outs = _graph()
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, 3, 6, 5)).astype("float32"),
             "t": rng.standard_normal((2, 2, 3, 2)).astype("float32")}
    if poison:  # inf in the upstream gradient: the conv's input gradient, then the pool's, hold inf and NaN
        feeds["t"][0, 0, 2, 1] = np.inf
        feeds["t"][1, 1, 1, 0] = -np.inf
    fused = gn.compile(g, outputs=outs, stability="off")(**feeds)
    assert calls, "the late bit-mask path was not planned"
    plain = gn.compile(g, outputs=outs, passes=[p for p in TRAINING if p != "fuse_elementwise"], stability="off")(
        **feeds)
    for k in outs:
        np.testing.assert_array_equal(fused[k], plain[k])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_bit_mask_select_is_where_written_plainly(dtype: str) -> None:
    """The kernel alone against np.where in the test: kept entries bit for bit (NaN, inf, -0.0 included), dropped
    ones +0.0 even where `a` holds NaN or inf; and the masked-copy fallback for an `a` of another dtype."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 7)).astype(dtype)
    a[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    a[1, :4] = [np.nan, np.inf, -np.inf, -0.0]
    cond = rng.random((5, 7)) > 0.5
    cond[0, :4], cond[1, :4] = True, False
    it = "int32" if dtype == "float32" else "int64"
    dst = np.full((5, 7), 7.0, dtype)
    fe._zero_select_late(np, cond, a, dst, it)
    want = np.where(cond, a, np.zeros((), dtype))
    np.testing.assert_array_equal(dst.view(it), want.view(it))  # bit patterns: +0.0, not -0.0, where dropped
    other = a.astype("float16")
    dst[...] = 7.0
    fe._zero_select_late(np, cond, other, dst, it)
    np.testing.assert_array_equal(dst, np.where(cond, other.astype(dtype), 0.0))
