"""numba kernels for layer_norm and layer_norm_grad over (rows, n) float arrays (loaded through compiled/__init__.py
only when numba is installed and wanted: this module imports numba at its top). Per row: the mean, then the centred
sum of squares (two-pass, no cancellation for large means), accumulated in float64; then one pass writing the
result. NumPy needs ~10 whole-array passes for the same, five of them broadcasting a per-row scalar, which costs
it twice a plain pass.

Imports nothing from graphnn.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

# Reassociation lets the row sums vectorize (their order is free: they are accumulated in float64 anyway);
# no flags that assume away nan or inf.
_FM = {"reassoc", "contract"}

@numba.njit(inline="always", fastmath=_FM)
def _stats(x: Any, i: int, n: int, eps: float) -> tuple[float, float]:
    """(mean, 1 / sqrt(var + eps)) of row i, in float64."""
    s = 0.0
    for j in range(n):
        s += x[i, j]
    mean = s / n
    v = 0.0
    for j in range(n):
        d = x[i, j] - mean
        v += d * d
    return mean, 1.0 / math.sqrt(v / n + eps)


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FM)
def layer_norm(x: Any, gamma: Any, beta: Any, eps: float, out: Any) -> None:
    """out = (x - mean) rstd gamma + beta per row of the 2-D x; gamma, beta of length n."""
    rows, n = x.shape
    for i in range(rows):
        mean, rstd = _stats(x, i, n, eps)
        for j in range(n):
            out[i, j] = (x[i, j] - mean) * rstd * gamma[j] + beta[j]


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FM)
def layer_norm_grad(x: Any, gamma: Any, gy: Any, eps: float, gx: Any, ggamma: Any) -> None:
    """gx = rstd (g gamma - mean(g gamma) - xhat mean(g gamma xhat)) per row, ggamma = sum over rows of g xhat
    (ggamma accumulated in float64, written at the end)."""
    rows, n = x.shape
    acc = np.zeros(n)
    for i in range(rows):
        mean, rstd = _stats(x, i, n, eps)
        a = 0.0
        b = 0.0
        for j in range(n):
            xh = (x[i, j] - mean) * rstd
            gh = gy[i, j] * gamma[j]
            a += gh
            b += gh * xh
            acc[j] += gy[i, j] * xh
        a /= n
        b /= n
        for j in range(n):
            xh = (x[i, j] - mean) * rstd
            gx[i, j] = rstd * (gy[i, j] * gamma[j] - a - xh * b)
    for j in range(n):
        ggamma[j] = acc[j]
