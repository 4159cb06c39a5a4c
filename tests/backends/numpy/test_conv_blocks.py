"""The NumPy conv kernels split the batch into cache-sized blocks of patch columns (conv_gemm.block_of); with a
tiny cache every sample is its own block (run on one or two worker threads), and all three kernels must still
equal the plain-loop references.
Pads wider than the kernel's reach make the stride-1 input gradient crop (some of gy reaches no input pixel: an
exact zero that finite differences cannot check, so it is here and not among the conformance cases)."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.numpy import conv_gemm
from graphnn.ir.ops import conv as c

from ...conformance import cases as _cases  # noqa: F401 - first: it imports every cases_<family> module
from ...conformance.cases_conv import ref_conv, ref_conv_transpose


class _Blas:
    """Stands in for threadpoolctl's handle on a BLAS library: a thread count to read and set."""

    def __init__(self, n: int) -> None:
        self.n = n

    def get_num_threads(self) -> int:
        return self.n

    def set_num_threads(self, n: int) -> None:
        self.n = n


@pytest.mark.parametrize("stride,pads,dil,groups", [(1, (1, 0, 2, 1), (1, 2), 1), (2, (1, 1, 0, 0), (1, 1), 2),
                                                    (1, (0, 0, 0, 0), (1, 1), 2), (1, (3, 2, 0, 3), (1, 1), 1)])
@pytest.mark.parametrize("cache,workers", [(1, 1), (1, 2), (1 << 30, 1)])
def test_blocks_of_one_sample_equal_the_whole_batch(monkeypatch, stride, pads, dil, groups, cache, workers) -> None:
    monkeypatch.setattr(conv_gemm, "CACHE_BYTES", cache)
    # a BLAS that reports `workers` threads, with no quiet (non-waking) setter
    monkeypatch.setattr(conv_gemm, "_LIBS", [[(_Blas(workers), None)]])
    pools: list[int] = []
    real_pool = conv_gemm.pool
    monkeypatch.setattr(conv_gemm, "pool", lambda n: pools.append(n) or real_pool(n))
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((3, 4, 7, 6)), rng.standard_normal((6, 4 // groups, 3, 3))
    k = 1 if pads == (0, 0, 0, 0) else 3
    w = w[:, :, :k, :k]
    y_ref = ref_conv(x, w, (stride, stride), pads, dil, groups)
    gy = rng.standard_normal(y_ref.shape)
    with gn.Graph("b") as g:
        xv, wv, gyv = (gn.input(n, a.shape, "float64") for n, a in (("x", x), ("w", w), ("gy", gy)))
        y = gn.conv2d(xv, wv, stride, pads, dil, groups)
        gx = c.conv2d_input_grad(gyv, wv, (7, 6), stride, pads, dil, groups)
        gw = c.conv2d_weight_grad(xv, gyv, (k, k), stride, pads, dil, groups)
    out = gn.compile(g, outputs={"y": y, "gx": gx, "gw": gw})(x=x, w=w, gy=gy)
    np.testing.assert_allclose(out["y"], y_ref, rtol=1e-10, atol=1e-10)
    # the adjoint identities <conv(x), gy> = <x, gx> = <w, gw>, with gx also from the transposed-conv reference
    want_gx = ref_conv_transpose(gy, w, (stride, stride), pads, (0, 0), groups, dil)
    full = np.zeros_like(x)
    full[:, :, :want_gx.shape[2], :want_gx.shape[3]] = want_gx[:, :, :7, :6]
    np.testing.assert_allclose(out["gx"], full, rtol=1e-10, atol=1e-10)
    # every kernel runs blocks (a pointwise forward and weight gradient take x itself as one block, its input
    # gradient runs per-sample blocks)
    assert bool(pools) == (workers > 1 and cache == 1) and set(pools) <= {workers}
    inner = float((y_ref * gy).sum())
    np.testing.assert_allclose(float((out["gw"] * w).sum()), inner, rtol=1e-10)
