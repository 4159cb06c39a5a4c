"""Conformance cases of layer_norm_grad (graphnn/ir/ops/norm.py), layer norm's closed-form backward, against the
gradients written plainly in NumPy: gx and ggamma, over the last axis and over the last two."""

from __future__ import annotations

import numpy as np

from graphnn.ir.ops.norm import layer_norm_grad

from .cases import Case, In


def np_layer_norm_grads(x: np.ndarray, gamma: np.ndarray, g: np.ndarray, axis: int,
                        eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """(gx, ggamma) of y = gamma (x - mean) / sqrt(var + eps) + beta for the output gradient g, in float64."""
    x64, g64, gm = (a.astype(np.float64) for a in (x, g, gamma))
    r, lead = tuple(range(axis, x.ndim)), tuple(range(axis))
    mu = x64.mean(axis=r, keepdims=True)
    rstd = 1.0 / np.sqrt(((x64 - mu) ** 2).mean(axis=r, keepdims=True) + eps)
    xhat = (x64 - mu) * rstd
    gh = g64 * gm
    gx = rstd * (gh - gh.mean(axis=r, keepdims=True) - xhat * (gh * xhat).mean(axis=r, keepdims=True))
    return gx.astype(x.dtype), (g64 * xhat).sum(axis=lead).astype(x.dtype)


CASES: list[Case] = [
    Case("layer_norm_grad", (In(("B", 7)), In((7,)), In(("B", 7))),
         lambda x, gm, g: layer_norm_grad(x, gm, g)[0],
         lambda x, gm, g: np_layer_norm_grads(x, gm, g, 1)[0], "gx"),
    Case("layer_norm_grad", (In(("B", 3, 5)), In((3, 5)), In(("B", 3, 5))),
         lambda x, gm, g: layer_norm_grad(x, gm, g, axis=1)[1],
         lambda x, gm, g: np_layer_norm_grads(x, gm, g, 1)[1], "ggamma-two-axes"),
]
