"""gn.onnx.load never guesses and never leaks a Python exception: malformed files, out-of-range axes, wrong
attribute types, missing or extra inputs, duplicate definitions and contradicting declared types are one-line
graphnn errors naming the file and the node; ONNX's integer type rules match onnxruntime side by side."""

from __future__ import annotations

import tracemalloc

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphnn as gn
from graphnn.backends.onnx.parity import run_graph, run_onnxruntime

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _vi(name, shape, t=F):
    return helper.make_tensor_value_info(name, t, shape)


def _model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _raw_tensor(name: str, elem: int, dims: list[int], raw: bytes) -> TensorProto:
    """A TensorProto whose bytes need not fit its dims (helper.make_tensor would refuse it)."""
    t = TensorProto(name=name, data_type=elem, raw_data=raw)
    t.dims.extend(dims)
    return t


def _refused(m: onnx.ModelProto, *words: str, tmp_path=None) -> str:
    """Load `m` from a file; the error must be a one-line GraphError naming the file and every word."""
    path = tmp_path / "bad.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(gn.GraphError) as ei:
        gn.onnx.load(path)
    msg = str(ei.value)
    assert "\n" not in msg and str(path) in msg, msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


def test_a_file_that_is_not_onnx_is_one_graphnn_error(tmp_path) -> None:
    for i, data in enumerate([b"not a model at all \xff\xfe", b"", b"\x08\x07"]):
        path = tmp_path / f"junk{i}.onnx"
        path.write_bytes(data)
        with pytest.raises(gn.GraphError, match="not an ONNX model") as ei:
            gn.onnx.load(path)
        assert str(path) in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(gn.GraphError, match="cannot read"):
        gn.onnx.load(tmp_path / "missing.onnx")
    with pytest.raises(gn.GraphError, match="cannot read"):
        gn.onnx.load(tmp_path)  # a directory
    with pytest.raises(gn.GraphError, match="takes a path, bytes or an onnx.ModelProto, not int"):
        gn.onnx.load(42)


@pytest.mark.parametrize("node, shape, word", [
    (helper.make_node("Concat", ["x", "x"], ["y"], axis=2, name="cat"), [2, 3], "axis 2 is out of range"),
    (helper.make_node("Softmax", ["x"], ["y"], axis=2, name="sm"), [2, 3], "axis 2 is out of range"),
    (helper.make_node("Flatten", ["x"], ["y"], axis=2**40, name="fl"), [2, 3], "out of range"),
    (helper.make_node("ArgMax", ["x"], ["y"], axis=-3, name="am"), [2, 3], "axis -3 is out of range"),
    (helper.make_node("ReduceMax", ["x"], ["y"], axes=[0, 2], name="rm"), [2, 3], "axes 2 is out of range"),
    (helper.make_node("Transpose", ["x"], ["y"], perm=[0, 0], name="tp"), [2, 3], "not a permutation"),
], ids=lambda p: getattr(p, "op_type", None))
def test_out_of_range_axes_are_errors_naming_the_node(node, shape, word, tmp_path) -> None:
    m = _model([node], [_vi("x", shape)], [_vi("y", None)], opset=17)
    _refused(m, word, f"{node.name} ({node.op_type})", tmp_path=tmp_path)


def test_unsqueeze_without_axes_and_squeeze_of_a_wide_axis_are_errors(tmp_path) -> None:
    for opset in (11, 13):
        m = _model([helper.make_node("Unsqueeze", ["x"], ["y"], name="u")], [_vi("x", [2])], [_vi("y", None)],
                   opset=opset)
        _refused(m, "u (Unsqueeze)", tmp_path=tmp_path)
    axes = numpy_helper.from_array(np.asarray([1], np.int64), "ax")
    m = _model([helper.make_node("Squeeze", ["x", "ax"], ["y"], name="sq")], [_vi("x", [2, 3])], [_vi("y", None)],
               [axes])
    _refused(m, "sq (Squeeze)", "only size-1 axes", tmp_path=tmp_path)


@pytest.mark.parametrize("node, word", [
    (helper.make_node("Add", ["x"], ["y"], name="n"), "1 inputs"),  # missing a required input
    (helper.make_node("Relu", ["x", "x"], ["y"], name="n"), "2 inputs"),  # an extra input
    (helper.make_node("Max", ["x", ""], ["y"], name="n"), "empty name"),  # segfaults onnxruntime in-process
    (helper.make_node("Softmax", ["x"], ["y"], axis=1.5, name="n"), "attribute 'axis' is FLOAT"),
    (helper.make_node("LeakyRelu", ["x"], ["y"], alpha=[1, 2], name="n"), "attribute 'alpha' is INTS"),
    (helper.make_node("Relu", ["x"], ["y"], bogus=1, name="n"), "unknown attribute 'bogus'"),
    (helper.make_node("Cast", ["x"], ["y"], name="n"), "required attribute(s) to"),
    (helper.make_node("Cast", ["x"], ["y"], to=999, name="n"), "element type #999"),
], ids=lambda p: getattr(p, "op_type", None))
def test_schema_violations_are_errors_naming_the_node(node, word, tmp_path) -> None:
    _refused(_model([node], [_vi("x", [2, 3])], [_vi("y", None)]), word, "n (", tmp_path=tmp_path)


def test_duplicate_definitions_and_undefined_names_are_errors(tmp_path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Neg", ["x"], ["y"], name="b")]
    _refused(_model(nodes, [_vi("x", [2])], [_vi("y", [2])]), "b (Neg) defines 'y'", "already defined",
             tmp_path=tmp_path)
    _refused(_model([helper.make_node("Relu", ["z"], ["y"], name="a")], [_vi("x", [2])], [_vi("y", [2])]),
             "reads 'z'", tmp_path=tmp_path)
    _refused(_model([helper.make_node("Relu", ["x"], ["x"], name="a")], [_vi("x", [2])], [_vi("x", [2])]),
             "already defined", tmp_path=tmp_path)


def test_declared_output_types_must_agree_with_inference(tmp_path) -> None:
    relu = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    _refused(_model(relu, [_vi("x", [2, 3])], [_vi("y", [2, 3], I64)]), "declared int64", "r (Relu)", "float32[2,3]",
             tmp_path=tmp_path)
    _refused(_model(relu, [_vi("x", [2, 3])], [_vi("y", [2, 4])]), "declared float32[2, 4]", tmp_path=tmp_path)
    _refused(_model(relu, [_vi("x", [2, 3])], [_vi("y", [6])]), "declared float32[6]", tmp_path=tmp_path)
    ok = gn.onnx.load(_model(relu, [_vi("x", ["N", 3])], [_vi("y", [None, 3])]))  # unknown dims are not a clash
    assert ok.outputs["y"].ndim == 2
    for undeclared in (onnx.ValueInfoProto(name="y"), _vi("y", None, TensorProto.UNDEFINED)):
        assert gn.onnx.load(_model(relu, [_vi("x", [2, 3])], [undeclared])).outputs["y"].shape == (2, 3)
    _refused(_model(relu, [onnx.ValueInfoProto(name="x")], [_vi("y", None)]), "input 'x'", "element type undefined",
             tmp_path=tmp_path)


def test_value_types_and_tensor_sizes_are_checked_before_any_array_is_made(tmp_path) -> None:
    relu = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    neg = helper.make_tensor_value_info("x", F, [2, 3])
    neg.type.tensor_type.shape.dim[0].dim_value = -4
    _refused(_model(relu, [neg], [_vi("y", None)]), "negative dim", tmp_path=tmp_path)
    _refused(_model(relu, [_vi("x", [2], 999)], [_vi("y", None)]), "element type #999", tmp_path=tmp_path)
    _refused(_model(relu, [_vi("x", [2], TensorProto.STRING)], [_vi("y", None)]), "element type string",
             tmp_path=tmp_path)
    # An initializer that declares 2**40 floats but carries 8 bytes: refused without allocating them.
    big = _raw_tensor("w", F, [2**20, 2**20], b"\0" * 8)
    add = [helper.make_node("Add", ["x", "w"], ["y"], name="a")]
    tracemalloc.start()
    try:
        _refused(_model(add, [_vi("x", [2])], [_vi("y", None)], [big]), "initializer 'w'", "8 bytes",
                 tmp_path=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    short = TensorProto(name="w", data_type=F, dims=[4], float_data=[1.0, 2.0])
    _refused(_model(add, [_vi("x", [4])], [_vi("y", None)], [short]), "2 values for dims [4]", tmp_path=tmp_path)
    const = helper.make_node("Constant", [], ["c"], name="k", value=_raw_tensor("v", I64, [3], b"\0"))
    _refused(_model([const, helper.make_node("Cast", ["c"], ["y"], to=F, name="c2")], [], [_vi("y", None)]),
             "k (Constant)", "1 bytes", tmp_path=tmp_path)


# ---- ONNX type rules, side by side with onnxruntime ------------------------------------------------------
def _binary(op: str, ta: int, tb: int) -> onnx.ModelProto:
    return _model([helper.make_node(op, ["a", "b"], ["y"], name="n")], [_vi("a", [4], ta), _vi("b", [4], tb)],
                  [_vi("y", [4], ta)])


def _side_by_side(m: onnx.ModelProto, feeds: dict) -> np.ndarray:
    ours, ref = run_graph(gn.onnx.load(m), feeds)["y"], run_onnxruntime(m, feeds)["y"]
    assert ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours, ref)
    return ours


def test_integer_pow_matches_onnxruntime() -> None:
    got = _side_by_side(_binary("Pow", I64, F), {"a": np.array([2, 3, 4, 5], np.int64),
                                                 "b": np.array([0.5, 1.5, 2.7, 0.0], np.float32)})
    assert got.tolist() == [1, 5, 42, 1]  # the exponent is not truncated first (that gave [1, 3, 16, 1])
    _side_by_side(_binary("Pow", I64, I64), {"a": np.array([2, 3, -4, 2], np.int64),
                                             "b": np.array([3, 2, 3, -1], np.int64)})
    _side_by_side(_binary("Pow", TensorProto.INT32, TensorProto.DOUBLE),
                  {"a": np.array([2, 3, 4, 7], np.int32), "b": np.array([0.5, 1.5, 2.7, 1.1])})
    _side_by_side(_binary("Pow", F, I64), {"a": np.array([2, 3, 4, 0.5], np.float32),
                                           "b": np.array([3, 2, -1, 2], np.int64)})


def test_integer_div_truncates_like_onnxruntime() -> None:
    got = _side_by_side(_binary("Div", I64, I64), {"a": np.array([-7, 7, -7, 7], np.int64),
                                                   "b": np.array([2, 2, -2, -2], np.int64)})
    assert got.tolist() == [-3, 3, 3, -3]  # toward zero, not floor
    _side_by_side(_binary("Div", TensorProto.INT32, TensorProto.INT32),
                  {"a": np.array([-9, 9, 100, -1], np.int32), "b": np.array([4, -4, 7, 3], np.int32)})


@pytest.mark.parametrize("to", [TensorProto.INT64, TensorProto.INT32, TensorProto.INT8, TensorProto.UINT8,
                                TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.DOUBLE])
def test_cast_matches_onnxruntime(to: int) -> None:
    m = _model([helper.make_node("Cast", ["a"], ["y"], to=to, name="c")], [_vi("a", [6])], [_vi("y", [6], to)])
    _side_by_side(m, {"a": np.array([-2.7, -0.5, 0.0, 0.5, 2.7, 100.25], np.float32)})


def test_conv_attributes_that_contradict_the_weights_are_errors(tmp_path) -> None:
    w = numpy_helper.from_array(np.zeros((2, 1, 3, 3), np.float32), "w")
    for attrs, word in (({"kernel_shape": [5, 5]}, "kernel_shape [5, 5]"), ({"pads": [1, 1]}, "pads [1, 1]")):
        node = helper.make_node("Conv", ["x", "w"], ["y"], name="cv", **attrs)
        _refused(_model([node], [_vi("x", [1, 1, 6, 6])], [_vi("y", None)], [w]), "cv (Conv)", word,
                 tmp_path=tmp_path)
