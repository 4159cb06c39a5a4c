"""Import: ONNX models built by hand (as another exporter would write them) run on graphnn like on onnxruntime;
unsupported ops are all listed; graphnn's own exports round-trip."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphnn as gn
from graphnn.backends.onnx.parity import run_graph, run_onnxruntime

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=[numpy_helper.from_array(a, k) for k, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(m, full_check=True)
    return m


def _vi(name, shape, t=F):
    return helper.make_tensor_value_info(name, t, shape)


def _same_as_onnxruntime(m: onnx.ModelProto, feeds: dict) -> gn.Graph:
    g = gn.onnx.load(m)
    ours, ref = run_graph(g, feeds), run_onnxruntime(m, feeds)
    for k in ref:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)
        assert ours[k].dtype == ref[k].dtype
    return g


def test_unsupported_ops_are_all_listed_with_node_names() -> None:
    m = helper.make_model(helper.make_graph(
        [helper.make_node("Tan", ["x"], ["a"], name="tan1"), helper.make_node("Relu", ["a"], ["b"], name="ok"),
         helper.make_node("TopK", ["b", "k"], ["c", "i"], name="top"),
         helper.make_node("Fancy", ["c"], ["y"], name="custom", domain="com.example")],
        "m", [_vi("x", [2, 3]), _vi("k", [1], TensorProto.INT64)], [_vi("y", [2, 3])]))
    with pytest.raises(gn.GraphError) as ei:
        gn.onnx.load(m)
    msg = str(ei.value)
    assert "3 node(s)" in msg and "Tan (tan1)" in msg and "TopK (top)" in msg and "Fancy (custom)" in msg
    assert "ok" not in msg.split("express:")[1]


def test_initializers_become_parameters_and_gemm_matches() -> None:
    r = np.random.default_rng(0)
    w, b = r.standard_normal((3, 4)).astype("float32"), r.standard_normal(3).astype("float32")
    m = _model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1, alpha=0.5, beta=2.0),
                helper.make_node("Relu", ["h"], ["y"])],
               [_vi("x", ["N", 4])], [_vi("y", ["N", 3])], [("w", w), ("b", b)])
    g = _same_as_onnxruntime(m, {"x": r.standard_normal((5, 4)).astype("float32")})
    assert [p.name for p in g.params] == ["w", "b"] and g.trainable_params == g.params
    np.testing.assert_array_equal(g.storage["w"], w)
    assert g.inputs[0].shape == ("N", 4) and list(g.outputs) == ["y"]


def test_common_ops_match_onnxruntime() -> None:
    r = np.random.default_rng(1)
    i64 = lambda *v: np.asarray(v, dtype=np.int64)
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], axis=1),  # (N, 2, 3, 4) -> (N, 24)
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.float32(0.25))),
        helper.make_node("Mul", ["f", "c"], ["fc"]),
        helper.make_node("Identity", ["fc"], ["fi"]),
        helper.make_node("Reshape", ["fi", "shape"], ["r"]),  # (N, 24) -> (N, 4, 6) via 0 and -1
        helper.make_node("Clip", ["r", "lo", "hi"], ["cl"]),
        helper.make_node("Slice", ["cl", "starts", "ends", "axes", "steps"], ["sl"]),
        helper.make_node("Unsqueeze", ["sl", "uaxes"], ["u"]),
        helper.make_node("Squeeze", ["u", "uaxes"], ["sq"]),
        helper.make_node("Transpose", ["sq"], ["t"], perm=[0, 2, 1]),
        helper.make_node("ReduceMean", ["t"], ["m"], axes=[1], keepdims=0),
        helper.make_node("LogSoftmax", ["m"], ["y"], axis=-1),
        helper.make_node("ArgMax", ["m"], ["am"], axis=1, keepdims=0),
        helper.make_node("Expand", ["m", "eshape"], ["e"]),
    ]
    inits = [("shape", i64(0, 4, -1)), ("lo", np.float32(-0.5)), ("hi", np.float32(0.5)), ("starts", i64(3, 0)),
             ("ends", i64(0, 6)), ("axes", i64(1, 2)), ("steps", i64(-1, 2)), ("uaxes", i64(1)),
             ("eshape", i64(2, 1, 1))]
    m = _model(nodes, [_vi("x", ["N", 2, 3, 4])],
               [_vi("y", ["N", 3]), _vi("am", ["N"], TensorProto.INT64), _vi("e", [2, "N", 3])], inits)
    g = _same_as_onnxruntime(m, {"x": r.standard_normal((3, 2, 3, 4)).astype("float32")})
    assert {p.name for p in g.params} == {"lo", "hi"}  # data initializers; shapes and axes were read as constants


def test_batchnorm_conv_maxpool_as_a_cnn_exporter_writes_them() -> None:
    r = np.random.default_rng(2)
    w, cb = r.standard_normal((4, 2, 3, 3)).astype("float32"), r.standard_normal(4).astype("float32")
    stats = [(n, (r.random(4) + 0.5).astype("float32")) for n in ("scale", "bias", "mean", "var")]
    m = _model([helper.make_node("Conv", ["x", "w", "cb"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
                helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["bn"], epsilon=1e-3),
                helper.make_node("MaxPool", ["bn"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
               [_vi("x", ["N", 2, 6, 6])], [_vi("y", ["N", 4, 3, 3])], [("w", w), ("cb", cb)] + stats)
    _same_as_onnxruntime(m, {"x": r.standard_normal((2, 2, 6, 6)).astype("float32")})


def test_shape_arithmetic_is_read_statically() -> None:
    # The way dynamic-batch exporters spell "reshape to (N, -1)": Shape -> Gather -> Concat -> Reshape.
    m = _model([helper.make_node("Shape", ["x"], ["s"]),
                helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
                helper.make_node("Concat", ["n", "minus1"], ["target"], axis=0),
                helper.make_node("Reshape", ["x", "target"], ["y"])],
               [_vi("x", ["N", 3, 4])], [_vi("y", ["N", 12])],
               [("zero", np.asarray([0], np.int64)), ("minus1", np.asarray([-1], np.int64))])
    g = _same_as_onnxruntime(m, {"x": np.arange(24, dtype=np.float32).reshape(2, 3, 4)})
    assert g.outputs["y"].shape == ("N", 12)


def _mlp() -> tuple[gn.Graph, dict]:
    r = np.random.default_rng(3)
    with gn.Graph("mlp") as g:
        x = gn.input("x", ("batch", 8))
        h = gn.tanh(x @ gn.param("w1", (8, 6), init=r.standard_normal((8, 6)).astype("float32"))
                    + gn.param("b1", (6,), init=r.standard_normal(6).astype("float32")))
        logits = h @ gn.param("w2", (6, 3), init=r.standard_normal((6, 3)).astype("float32"))
    return g, {"probs": gn.softmax(logits), "label": gn.argmax(logits, axis=1)}


def test_round_trip_export_import_run_equals_the_original(tmp_path) -> None:
    g, outs = _mlp()
    path = tmp_path / "mlp.onnx"
    gn.onnx.export(g, path, outputs=outs)
    for source in (path, str(path), path.read_bytes(), onnx.load(path)):
        back = gn.onnx.load(source)
        assert list(back.outputs) == ["probs", "label"]
        assert [p.name for p in back.params] == ["w1", "b1", "w2"]
        x = np.random.default_rng(4).standard_normal((7, 8)).astype("float32")
        want = gn.compile(g, outputs=outs, mode="eval")(x=x)
        got = gn.compile(back)(x=x)
        np.testing.assert_allclose(got["probs"], want["probs"], rtol=1e-6)
        np.testing.assert_array_equal(got["label"], want["label"])


def test_round_trip_keeps_value_names_and_exports_again(tmp_path) -> None:
    g, outs = _mlp()
    first = gn.onnx.export(g, None, outputs=outs).model
    back = gn.onnx.load(first)
    second = gn.onnx.export(back, None).model
    names = lambda m: sorted(o for n in m.graph.node for o in n.output)
    assert names(first) == names(second)
    assert [n.op_type for n in first.graph.node] == [n.op_type for n in second.graph.node]


def test_torchscript_node_names_become_layer_scopes() -> None:
    """'/enc/fc/Relu' (PyTorch's module path) groups the imported node under enc/fc, as the viewer draws layers."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="/enc/fc/Relu"),
             helper.make_node("Neg", ["h"], ["y"], name="neg_plain")]
    g = gn.onnx.load(helper.make_model(helper.make_graph(nodes, "m", [x], [y])))
    scopes = {n.op: n.scope for n in g.nodes}
    assert scopes == {"relu": "enc/fc", "neg": ""}
