"""Registry-driven gradient conformance: for every case of a differentiable op, the symbolic gradient equals
float64 fourth-order central finite differences (gn.check_grad), and so does the gradient of the gradient
for the ops whose second derivative is smooth at the drawn points."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.op_registry import get_op

from .cases import CASES, Case, draw

GRAD_CASES = [c for c in CASES if get_op(c.op).grad is not None]
TOL = 1e-6


def _ids(c: Case) -> str:
    return f"{c.op}-{c.id}" if c.id else c.op


def _arrays(case: Case, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [draw(s, 3, rng, "float64" if s.dtype.startswith("float") else None) for s in case.inputs]


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_gradient_matches_finite_differences(case: Case) -> None:
    res = gn.check_grad(case.build, *_arrays(case, 0), wrt=case.differentiable, disconnected="ignore", tol=TOL)
    assert res.errors, f"{case.op}: no input was checked"


# Second derivatives: d/dx of (random projection of) the gradient, again against finite differences.
SMOOTH = {"add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "sigmoid", "tanh", "softplus",
          "identity", "sum", "mean", "reshape", "transpose", "concat", "slice", "unslice", "broadcast_to",
          "matmul", "softmax", "log_softmax", "cross_entropy", "binary_cross_entropy", "mse", "kl_div",
          "where", "cast", "relu", "leaky_relu", "abs", "maximum", "max", "min", "maxout", "prelu", "mae",
          # nn ops (issue 6): pooling's choice is piecewise constant, so its second derivative is exact too
          "conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d", "max_pool2d_grad", "max_pool2d_select",
          "batch_norm_train", "batch_norm_infer", "layer_norm", "dropout",
          # fused stable losses (issue 4)
          "softmax_cross_entropy", "sigmoid_binary_cross_entropy",
          # indexing (issue 17): linear in the data
          "gather", "scatter_add", "erf", "gelu", "silu", "cumsum", "tile",
          # attention (issue 17): second order through the decomposed closed-form backward (attention_probs)
          "attention", "attention_probs"}


@pytest.mark.parametrize("case", [c for c in GRAD_CASES if c.op in SMOOTH], ids=_ids)
def test_second_derivative_matches_finite_differences(case: Case) -> None:
    n = len(case.inputs)
    positions = case.differentiable if case.differentiable is not None else range(n)
    floats = [i for i in positions if case.inputs[i].dtype.startswith("float")]

    def first_grad(*xs: gn.Value) -> gn.Value:
        y = case.build(*xs)
        y = gn.sum(y * y) if y.ndim else y * y  # y*y keeps linear ops' second derivative non-zero
        gs = gn.grad(y, [xs[i] for i in floats], disconnected="zeros")
        return gn.concat([gn.reshape(v, (-1,)) for v in gs], axis=0)

    gn.check_grad(first_grad, *_arrays(case, 1), wrt=floats, disconnected="ignore", tol=TOL)
