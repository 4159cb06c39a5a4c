"""The examples' model shapes (digits MLP and CNN built from gn.nn layers), briefly trained so batch-norm running
statistics are not their initial values, exported and compared with onnxruntime at two batch sizes."""

from __future__ import annotations

import numpy as np
import onnx

import graphnn as gn
from graphnn import nn

from .helpers import export_and_compare


def _train(g: gn.Graph, loss: gn.Value, x: np.ndarray, y: np.ndarray) -> None:
    gn.train.fit(loss, {"x": x, "y": y}, gn.optim.Adam(1e-2), epochs=1, batch_size=16, progress=False)


def test_digits_mlp_shape() -> None:
    r = np.random.default_rng(0)
    with gn.Graph("digits_mlp") as g:
        x = gn.input("x", (None, 64))
        labels = gn.input("y", (None,), "int64")
        logits = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))(x)
        probs = gn.softmax(logits)
        loss = gn.cross_entropy(probs, labels)
    _train(g, loss, r.random((64, 64)).astype("float32"), r.integers(0, 10, 64))
    rep = export_and_compare(g, {"probs": probs}, lambda n: {"x": r.random((n, 64)).astype("float32")})
    assert [i.name for i in rep.model.graph.input] == ["x"]  # the labels are not needed for probs


def test_digits_cnn_shape(tmp_path) -> None:
    r = np.random.default_rng(1)
    with gn.Graph("digits_cnn") as g:
        x = gn.input("x", (None, 1, 8, 8))
        labels = gn.input("y", (None,), "int64")
        logits = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(32, 10))(x)
        loss = gn.cross_entropy(gn.softmax(logits), labels)
    _train(g, loss, r.random((48, 1, 8, 8)).astype("float32"), r.integers(0, 10, 48))
    assert any(not np.allclose(g.storage[s.name], 0) for s in g.state if "mean" in s.name)
    export_and_compare(g, {"logits": logits}, lambda n: {"x": r.random((n, 1, 8, 8)).astype("float32")})
    rep = gn.onnx.export(g, tmp_path / "cnn.onnx", outputs={"logits": logits})
    ops = [n.op_type for n in onnx.load(tmp_path / "cnn.onnx").graph.node]
    assert ops.count("BatchNormalization") == 2 and "Dropout" not in ops and rep.max_difference < 1e-4
