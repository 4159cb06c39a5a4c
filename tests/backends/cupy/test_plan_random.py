"""Random straight-line programs (the runtime's generator) through backend="cupy" on the stand-in: planned
buffers, in-place updates on the device mirror, generated fused kernels and batch changes equal plain NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.backends.cupy import backend as cupy_backend
from tests.backends.cupy.standin import cupy as standin_cupy

from ..test_plan import D, _build, _numpy, programs
from .conftest import to_host


@settings(max_examples=30, deadline=None)
@given(programs(), st.lists(st.integers(1, 6), min_size=1, max_size=3), st.booleans())
def test_random_programs_on_standin_equal_numpy(p: list, batches: list, fuse: bool) -> None:
    prog, outs, upd = p
    rng = np.random.default_rng(len(prog))
    w = (rng.standard_normal((D, D)) * 0.3).astype(np.float32)
    c = rng.standard_normal(D).astype(np.float32)
    g, outputs, updates = _build(prog, outs, upd, w, c)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cupy_backend, "load_cupy", lambda: standin_cupy)
        fn = gn.compile(g, outputs, updates, passes="default" if fuse else "none", backend="cupy")
        ref_w, ref_c = w.astype(np.float64), c.astype(np.float64)
        for b in batches + batches[:1]:
            x0, x1 = rng.standard_normal((b, D)).astype(np.float32), rng.standard_normal((b, D)).astype(np.float32)
            got = fn(x0=x0, x1=x1)
            want, ref_w, ref_c = _numpy(prog, outs, upd, x0.astype(np.float64), x1.astype(np.float64), ref_w, ref_c)
            for k in got:
                np.testing.assert_allclose(to_host(got[k]), want[k], rtol=2e-3, atol=2e-3, err_msg=k)
            np.testing.assert_allclose(g.storage["w"], ref_w, rtol=2e-3, atol=2e-3)
            np.testing.assert_allclose(g.storage["c"], ref_c, rtol=2e-3, atol=2e-3)
