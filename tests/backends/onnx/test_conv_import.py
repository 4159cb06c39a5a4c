"""ONNX Conv and ConvTranspose as exporters write them (issue 15): 1-D and 2-D, groups, dilations, asymmetric
pads, auto_pad, output_padding and output_shape, with and without bias, each against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphnn as gn
from graphnn.backends.onnx.parity import run_graph, run_onnxruntime

F = TensorProto.FLOAT


def _check(op: str, xs: tuple, ws: tuple, bias: bool = True, **attrs: object) -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal(ws).astype("float32")
    out_c = ws[1] * attrs.get("group", 1) if op == "ConvTranspose" else ws[0]
    inits = [numpy_helper.from_array(w, "w")]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(out_c).astype("float32"), "b"))
    node = helper.make_node(op, ["x", "w"] + (["b"] if bias else []), ["y"], **attrs)
    g = helper.make_graph([node], "m", [helper.make_tensor_value_info("x", F, ["N", *xs[1:]])],
                          [helper.make_tensor_value_info("y", F, ["N", "yc", "yh", "yw"][:len(xs)])],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(m, full_check=True)
    feeds = {"x": rng.standard_normal(xs).astype("float32")}
    ours, ref = run_graph(gn.onnx.load(m), feeds), run_onnxruntime(m, feeds)
    assert ours["y"].shape == ref["y"].shape
    np.testing.assert_allclose(ours["y"], ref["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attrs", [
    {"group": 2, "pads": [1, 0, 2, 1], "strides": [2, 1]},
    {"group": 4, "dilations": [2, 2], "pads": [2, 2, 2, 2]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "strides": [2, 1]},
    {"auto_pad": "VALID", "strides": [1, 2]},
], ids=["groups-asym", "depthwise-dilated", "same-upper", "same-lower", "valid"])
def test_conv2d_attributes(attrs: dict) -> None:
    g = attrs.get("group", 1)
    _check("Conv", (2, 4, 9, 8), (8, 4 // g, 3, 3), **attrs)


@pytest.mark.parametrize("attrs", [{}, {"strides": [2], "pads": [1, 2], "dilations": [2], "group": 2},
                                   {"auto_pad": "SAME_UPPER", "strides": [3]}], ids=["plain", "all", "same"])
def test_conv1d(attrs: dict) -> None:
    _check("Conv", (2, 4, 13), (6, 4 // attrs.get("group", 1), 3), bias=not attrs, **attrs)


@pytest.mark.parametrize("attrs", [
    {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},
    {"strides": [2, 3], "group": 2, "dilations": [2, 1], "pads": [0, 1, 1, 0]},
    {"strides": [2, 2], "output_shape": [10, 9]},
], ids=["outpad", "groups-dilated", "output-shape"])
def test_conv_transpose2d(attrs: dict) -> None:
    _check("ConvTranspose", (2, 4, 5, 4), (4, 3, 3, 3), **attrs)


def test_conv_transpose1d() -> None:
    _check("ConvTranspose", (2, 4, 6), (4, 2, 4), strides=[2], pads=[1, 1])


def test_bad_group_count_is_a_graphnn_error_naming_the_node() -> None:
    w = numpy_helper.from_array(np.zeros((6, 2, 3, 3), "float32"), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], group=4, name="c1")], "m",
                          [helper.make_tensor_value_info("x", F, [1, 6, 5, 5])],
                          [helper.make_tensor_value_info("y", F, [1, 6, 3, 3])], initializer=[w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(gn.GraphnnError, match="c1.*groups=4 does not divide"):
        gn.onnx.load(m)


def test_torchscript_export_of_grouped_dilated_transposed_and_1d_convs_matches_torch() -> None:
    """A PyTorch model exported by the TorchScript exporter with a dynamic batch imports and matches torch."""
    import io
    import warnings

    torch = pytest.importorskip("torch", reason="PyTorch makes the exported model")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2)
            self.b = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)  # depthwise
            self.c = torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
            self.d = torch.nn.Conv1d(4, 6, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.d(self.c(self.b(self.a(x)).relu()).mean(2))

    torch.manual_seed(0)
    net, f = Net().eval(), io.BytesIO()
    x = torch.randn(3, 4, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(net, (x,), f, dynamo=False, opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}})
    g = gn.onnx.load(f.getvalue())
    for n in (1, 3):
        xs = torch.randn(n, 4, 8, 8)
        np.testing.assert_allclose(run_graph(g, {"x": xs.numpy()})["y"], net(xs).detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
