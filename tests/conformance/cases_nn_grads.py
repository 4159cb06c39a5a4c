"""Conformance cases of the nn_grads family (graphnn/ir/ops/nn_grads.py): gelu_grad against gelu's derivative
written plainly in NumPy (math.erf for Phi)."""

from __future__ import annotations

import math

import numpy as np

from graphnn.ir.ops.nn_grads import gelu_grad

from .cases import Case, In

_ERF = np.vectorize(math.erf)


def np_gelu_slope(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """d/dx gelu(x): Phi(x) + x phi(x), or the tanh form's derivative, in float64."""
    v = x.astype(np.float64)
    if approximate == "none":
        return 0.5 * (1 + _ERF(v / math.sqrt(2))) + v * np.exp(-v * v / 2) / math.sqrt(2 * math.pi)
    k, c = math.sqrt(2 / math.pi), 0.044715
    t = np.tanh(k * (v + c * v**3))
    return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * c * v * v)


CASES: list[Case] = [
    Case("gelu_grad", (In(("B", 3, 4)), In(("B", 3, 4))), gelu_grad,
         lambda x, g: (np_gelu_slope(x) * g).astype(x.dtype)),
    Case("gelu_grad", (In(("B", 4)), In((4,))), lambda x, g: gelu_grad(x, g, "tanh"),
         lambda x, g: (np_gelu_slope(x, "tanh") * g).astype(x.dtype), "tanh-broadcast"),
]
