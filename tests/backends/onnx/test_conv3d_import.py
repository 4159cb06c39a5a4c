"""Rank-5 Conv, ConvTranspose, MaxPool and AveragePool at import (issue 15 item 3), each against onnxruntime: strides, dilations,
groups, asymmetric pads, auto_pad, ceil_mode, count_include_pad, with and without bias; bad input is a graphnn
error naming the node."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphnn as gn
from graphnn.backends.onnx.parity import run_graph, run_onnxruntime

F = TensorProto.FLOAT


def _model(op: str, xs: tuple, ws: tuple | None, bias: bool, **attrs: object) -> tuple[onnx.ModelProto, dict]:
    rng = np.random.default_rng(0)
    inits, names = [], ["x"]
    if ws is not None:
        inits.append(numpy_helper.from_array(rng.standard_normal(ws).astype("float32"), "w"))
        names.append("w")
        if bias:
            inits.append(numpy_helper.from_array(rng.standard_normal(ws[0]).astype("float32"), "b"))
            names.append("b")
    node = helper.make_node(op, names, ["y"], name="the_node", **attrs)
    g = helper.make_graph([node], "m", [helper.make_tensor_value_info("x", F, ["N", *xs[1:]])],
                          [helper.make_tensor_value_info("y", F, ["n", "c", "d", "h", "w"])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(m, full_check=True)
    return m, {"x": rng.standard_normal(xs).astype("float32")}


def _check(op: str, xs: tuple, ws: tuple | None = None, bias: bool = False, **attrs: object) -> None:
    m, feeds = _model(op, xs, ws, bias, **attrs)
    ours, ref = run_graph(gn.onnx.load(m), feeds), run_onnxruntime(m, feeds)
    assert ours["y"].shape == ref["y"].shape
    np.testing.assert_allclose(ours["y"], ref["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attrs,bias", [
    ({}, True),
    ({"group": 2, "pads": [1, 0, 2, 0, 1, 1], "strides": [2, 1, 2]}, False),
    ({"group": 4, "dilations": [2, 1, 2], "pads": [2, 1, 1, 2, 1, 1]}, True),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2, 1]}, True),
    ({"auto_pad": "SAME_LOWER", "strides": [1, 2, 2]}, False),
], ids=["bias", "groups-asym-stride", "depthwise-dilated", "same-upper", "same-lower"])
def test_conv3d(attrs: dict, bias: bool) -> None:
    g = attrs.get("group", 1)
    _check("Conv", (2, 4, 6, 7, 5), (8, 4 // g, 3, 2, 3), bias, **attrs)


@pytest.mark.parametrize("attrs,bias", [
    ({"strides": [2, 1, 2], "pads": [1, 0, 1, 0, 1, 1], "output_padding": [1, 0, 1]}, True),
    ({"strides": [2, 2, 1], "group": 2, "dilations": [2, 1, 2], "pads": [0, 1, 1, 1, 0, 0]}, False),
    ({"strides": [2, 2, 2], "output_shape": [9, 10, 7]}, True),
    ({"strides": [3, 2, 1], "auto_pad": "SAME_UPPER"}, False),
], ids=["outpad", "groups-dilated", "output-shape", "same-upper"])
def test_conv_transpose3d(attrs: dict, bias: bool) -> None:
    m, feeds = _model("ConvTranspose", (2, 4, 4, 5, 3), (4, 3, 3, 2, 3), False, **attrs)
    if bias:  # ConvTranspose's bias has one entry per output channel: w.shape[1] * group
        m.graph.initializer.append(numpy_helper.from_array(np.arange(3 * attrs.get("group", 1), dtype="float32"), "b"))
        m.graph.node[0].input.append("b")
    ours, ref = run_graph(gn.onnx.load(m), feeds), run_onnxruntime(m, feeds)
    assert ours["y"].shape == ref["y"].shape
    np.testing.assert_allclose(ours["y"], ref["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [2, 2, 2]},
    {"kernel_shape": [3, 2, 3], "strides": [2, 1, 2], "pads": [1, 0, 1, 1, 1, 0]},
    {"kernel_shape": [3, 3, 2], "strides": [2, 2, 2], "pads": [1, 1, 0, 1, 1, 0], "ceil_mode": 1},
    {"kernel_shape": [2, 2, 2], "dilations": [2, 1, 2], "strides": [1, 2, 1]},
    {"kernel_shape": [3, 2, 3], "strides": [2, 2, 1], "auto_pad": "SAME_UPPER"},
], ids=["plain", "asym-pad", "ceil", "dilated", "same-upper"])
def test_max_pool3d(attrs: dict) -> None:
    _check("MaxPool", (2, 3, 7, 6, 5), **attrs)


@pytest.mark.parametrize("include", [0, 1], ids=["exclude-pad", "include-pad"])
@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [2, 2, 2]},
    {"kernel_shape": [3, 2, 3], "strides": [2, 1, 2], "pads": [1, 0, 1, 1, 1, 0]},
    {"kernel_shape": [3, 3, 2], "strides": [2, 2, 2], "pads": [1, 1, 0, 1, 1, 0], "ceil_mode": 1},
], ids=["plain", "asym-pad", "ceil"])
def test_average_pool3d(attrs: dict, include: int) -> None:
    _check("AveragePool", (2, 3, 7, 6, 5), count_include_pad=include, **attrs)


@pytest.mark.parametrize("op,ws,attrs,match", [
    ("Conv", (4, 4, 9, 2, 2), {}, "larger than the padded"),
    ("Conv", (4, 1, 2, 2, 2), {"group": 3}, "groups 3 must divide"),
    ("MaxPool", None, {"kernel_shape": [8, 2, 2]}, "larger than the padded"),
    ("AveragePool", None, {"kernel_shape": [2, 2, 2], "pads": [2, 0, 0, 0, 0, 0]}, "smaller than the"),
], ids=["conv-kernel", "conv-groups", "maxpool-kernel", "avgpool-pad"])
def test_bad_input_names_the_node(op: str, ws: tuple | None, attrs: dict, match: str) -> None:
    m, _ = _model(op, (1, 4, 5, 5, 5), ws, False, **attrs) if op != "Conv" or "group" not in attrs else \
        _model_unchecked(op, ws, attrs)
    with pytest.raises(gn.GraphnnError, match=match) as e:
        gn.onnx.load(m)
    assert "the_node" in str(e.value)


def _model_unchecked(op: str, ws: tuple, attrs: dict) -> tuple[onnx.ModelProto, dict]:
    """A model the ONNX checker's shape inference would itself reject (groups not dividing the channels)."""
    w = numpy_helper.from_array(np.zeros(ws, "float32"), "w")
    node = helper.make_node(op, ["x", "w"], ["y"], name="the_node", **attrs)
    g = helper.make_graph([node], "m", [helper.make_tensor_value_info("x", F, [1, 4, 5, 5, 5])],
                          [helper.make_tensor_value_info("y", F, ["n", "c", "d", "h", "w"])], initializer=[w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), {}
