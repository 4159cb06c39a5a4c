"""Conformance cases of the activation family (graphnn/ir/ops/activation.py): values against NumPy formulas
written here, independently of the kernels."""

from __future__ import annotations

import math

import numpy as np

from graphnn.ir.ops import activation as A

from .cases import Case, In

X = In(("B", 3, 4))
P = In(("B", 3, 4), draw="pos")
W = In((3, 4), draw="pos")
ALPHA, SCALE = 1.6732632423543772, 1.0507009873554805


def _np_elu(x: np.ndarray, alpha: float, scale: float = 1.0) -> np.ndarray:
    return scale * np.where(x > 0, x, alpha * (np.exp(x) - 1))


def _np_mish(x: np.ndarray) -> np.ndarray:
    return x * np.tanh(np.log1p(np.exp(x)))


CASES: list[Case] = [
    Case("floor", (X,), A.floor, np.floor),
    Case("ceil", (X,), A.ceil, np.ceil),
    Case("round", (X,), lambda x: A.round(x * 2), lambda x: np.vectorize(lambda v: float(round(v)))(x * 2)),
    Case("reciprocal", (P,), A.reciprocal, lambda x: 1 / x),
    Case("sin", (X,), A.sin, np.sin),
    Case("cos", (X,), A.cos, np.cos),
    Case("mod", (X, W), lambda a, b: A.mod(a * 3, b), lambda a, b: np.vectorize(math.fmod)(a * 3, b) % b),
    Case("fmod", (X, W), lambda a, b: A.fmod(a * 3, b), lambda a, b: np.vectorize(math.fmod)(a * 3, b)),
    Case("hardsigmoid", (X,), lambda x: A.hardsigmoid(x * 4), lambda x: np.minimum(np.maximum(x * 4 / 6 + 0.5, 0), 1)),
    Case("hardsigmoid", (X,), lambda x: A.hardsigmoid(x * 4, 0.2, 0.4),
         lambda x: np.minimum(np.maximum(x * 0.8 + 0.4, 0), 1), "onnx_defaults"),
    Case("hardswish", (X,), lambda x: A.hardswish(x * 4), lambda x: x * 4 * np.clip(x * 4 / 6 + 0.5, 0, 1)),
    Case("elu", (X,), lambda x: A.elu(x, 0.7), lambda x: _np_elu(x, 0.7)),
    Case("elu", (X,), A.selu, lambda x: _np_elu(x, ALPHA, SCALE), "selu"),
    Case("mish", (X,), A.mish, _np_mish),
    Case("hardtanh", (X,), lambda x: A.hardtanh(x * 4, -1.5, 2.0), lambda x: np.clip(x * 4, -1.5, 2.0)),
    Case("softsign", (X,), A.softsign, lambda x: x / (1 + np.abs(x))),
]
