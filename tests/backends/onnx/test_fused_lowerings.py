"""The fused losses' lowerings (their ops come from the fusion passes): standard ONNX, stable for any logit,
never Log(Sigmoid); checked on onnxruntime against float64 NumPy. The nodes are built directly so this holds
whether or not the fusion passes are present."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.onnx.exporter import to_model
from graphnn.backends.onnx.parity import run_onnxruntime
from graphnn.ir.graph import Provenance
from graphnn.ir.types import TensorType


def _fused_graph(op: str, t_dtype: str, t_shape: tuple, out_shape: tuple, attrs: dict) -> gn.Graph:
    with gn.Graph(op) as g:
        x = gn.input("x", ("N", 4))
        t = gn.input("t", t_shape, t_dtype)
    node = g.add_node(op, (x, t), [TensorType("float32", out_shape)], attrs, Provenance(frozenset({"here.py:1"})))
    g.outputs = {"loss": node.outputs[0]}
    return g


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(-1, keepdims=True)))[..., 0]


X = np.array([[100.0, -100.0, 3.0, 0.5], [-80.0, 0.0, 80.0, -1e-3], [0.1, 0.2, 0.3, 0.4]], np.float32)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_sigmoid_binary_cross_entropy_is_stable(reduction: str) -> None:
    g = _fused_graph("sigmoid_binary_cross_entropy", "float32", ("N", 4), () if reduction != "none" else ("N", 4),
                     {"reduction": reduction})
    model = to_model(g, 17)
    types = [n.op_type for n in model.graph.node]
    assert "Sigmoid" not in types and "Log" not in types  # max(x,0) - x t + softplus(-|x|), no Log(Sigmoid)
    t = np.random.default_rng(0).random(X.shape).astype(np.float32)
    got = run_onnxruntime(model, {"x": X, "t": t})["loss"]
    x64 = X.astype(np.float64)
    per = np.maximum(x64, 0) - x64 * t + np.log1p(np.exp(-np.abs(x64)))
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_softmax_cross_entropy_int_labels(reduction: str) -> None:
    g = _fused_graph("softmax_cross_entropy", "int64", ("N",), () if reduction != "none" else ("N",),
                     {"reduction": reduction, "axis": 1})
    model = to_model(g, 17)
    assert "SoftmaxCrossEntropyLoss" in [n.op_type for n in model.graph.node]
    y = np.array([1, 0, 3], np.int64)
    got = run_onnxruntime(model, {"x": X, "t": y})["loss"]
    x64 = X.astype(np.float64)
    per = _logsumexp(x64) - x64[np.arange(3), y]
    np.testing.assert_allclose(got, per.mean() if reduction == "mean" else per, rtol=1e-5)


def test_softmax_cross_entropy_soft_targets() -> None:
    g = _fused_graph("softmax_cross_entropy", "float32", ("N", 4), (), {"reduction": "sum", "axis": 1})
    model = to_model(g, 17)
    assert "LogSoftmax" in [n.op_type for n in model.graph.node]
    t = np.random.default_rng(1).random(X.shape).astype(np.float32)
    t /= t.sum(-1, keepdims=True)
    got = run_onnxruntime(model, {"x": X, "t": t})["loss"]
    x64 = X.astype(np.float64)
    want = -(t * (x64 - _logsumexp(x64)[:, None])).sum()
    np.testing.assert_allclose(got, want, rtol=1e-5)
