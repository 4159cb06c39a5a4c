"""ONNX both ways for recurrence: gn.nn.LSTM/GRU/RNN export (as ONNX LSTM/GRU/RNN; gn.scan as Scan) and run in
onnxruntime; PyTorch's exports of nn.LSTM/GRU/RNN (ONNX LSTM/GRU/RNN ops) load with dynamic batch and length and
match PyTorch; ONNX LSTM with per-row sequence_lens matches onnxruntime."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import helper

import graphnn as gn
from graphnn.backends.onnx.parity import run_onnxruntime

from .helpers import export_and_compare

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_layer_exports_as_onnx_recurrent_op_and_matches_onnxruntime(kind: str) -> None:
    with gn.Graph("rec") as g:
        x = gn.input("x", (None, None, 3), "float32")
        out, state = getattr(gn.nn, kind)(3, 4, num_layers=2, bidirectional=True)(x)
        outputs = {"out": out} | ({"h": state[0], "c": state[1]} if kind == "LSTM" else {"h": state})
    rep = export_and_compare(g, outputs, lambda n: {"x": RNG.standard_normal((n, n + 2, 3)).astype("float32")})
    ops = [nd.op_type for nd in rep.model.graph.node]
    assert ops.count(kind) == 2 and "Scan" not in ops  # one op per layer, both directions in it
    ops_dirs = [a.s.decode() for nd in rep.model.graph.node if nd.op_type == kind for a in nd.attribute
                if a.name == "direction"]
    assert ops_dirs == ["bidirectional", "bidirectional"]
    assert "MatMul" not in ops  # the hoisted input projection is folded into the op's W and B


def test_relu_rnn_exports_with_relu_activation() -> None:
    with gn.Graph("rec") as g:
        x = gn.input("x", (None, None, 3), "float32")
        out, h = gn.nn.RNN(3, 5, nonlinearity="relu")(x)
    rep = export_and_compare(g, {"out": out, "h": h},
                             lambda n: {"x": RNG.standard_normal((n, n + 1, 3)).astype("float32")})
    (rnn,) = [nd for nd in rep.model.graph.node if nd.op_type == "RNN"]
    acts = next(a for a in rnn.attribute if a.name == "activations")
    assert [s.decode() for s in helper.get_attribute_value(acts)] == ["Relu"]


def test_generic_scan_still_exports_as_scan() -> None:
    with gn.Graph("cumprod") as g:
        x = gn.input("x", (None, 3), "float32")
        _, ys = gn.scan(lambda c, xt: (c * xt, c * xt), x[0], x)
    rep = export_and_compare(g, {"ys": ys}, lambda n: {"x": RNG.standard_normal((n + 1, 3)).astype("float32")})
    assert "Scan" in {nd.op_type for nd in rep.model.graph.node}


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_torch_export_loads_and_matches_torch(kind: str, tmp_path) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    torch.manual_seed(0)
    m = getattr(torch.nn, kind)(5, 6, num_layers=2, bidirectional=True, batch_first=True)
    names = ["y", "h", "c"] if kind == "LSTM" else ["y", "h"]
    path = str(tmp_path / f"{kind}.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.randn(3, 4, 5),), path, dynamo=False, input_names=["x"], output_names=names,
                          dynamic_axes={"x": {0: "batch", 1: "time"}}, opset_version=17)
    assert kind in {n.op_type for n in onnx.load(path).graph.node}
    fn = gn.compile(gn.onnx.load(path))
    for b, t in ((2, 7), (5, 3)):  # other batch sizes and lengths than the export's
        X = RNG.standard_normal((b, t, 5)).astype("float32")
        ours = fn(x=X)
        y, state = m(torch.tensor(X))
        ref = [y] + (list(state) if kind == "LSTM" else [state])
        for name, r in zip(names, ref):
            r = r.detach().numpy()
            np.testing.assert_allclose(ours[name], r, rtol=1e-5, atol=1e-5 * np.abs(r).max())


def test_onnx_lstm_with_sequence_lens_matches_onnxruntime() -> None:
    T, B, F, H = 5, 3, 2, 4
    node = helper.make_node("LSTM", ["x", "w", "r", "b", "lens"], ["y", "yh", "yc"], hidden_size=H,
                            direction="bidirectional")
    arrays = {"w": RNG.standard_normal((2, 4 * H, F)), "r": RNG.standard_normal((2, 4 * H, H)),
              "b": RNG.standard_normal((2, 8 * H))}
    graph = helper.make_graph(
        [node], "lstm",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [T, B, F]),
         helper.make_tensor_value_info("lens", onnx.TensorProto.INT32, [B])],
        [helper.make_tensor_value_info(k, onnx.TensorProto.FLOAT, None) for k in ("y", "yh", "yc")],
        initializer=[onnx.numpy_helper.from_array(a.astype("float32"), k) for k, a in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"x": RNG.standard_normal((T, B, F)).astype("float32"), "lens": np.array([5, 2, 3], "int32")}
    ours = gn.compile(gn.onnx.load(model))(**feeds)
    theirs = run_onnxruntime(model, feeds)
    for k in ("y", "yh", "yc"):
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-5, atol=1e-6)
