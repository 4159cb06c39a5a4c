"""The conv epilogue pass (graphnn/passes/conv_epilogue.py): add(conv2d, per-channel b) [-> relu] becomes one
conv2d_bias_act; numbers against plain NumPy, no fusion when an intermediate is read elsewhere or the bias is not
per channel, inference only, its gradient against the unfused graph's, and its ONNX export (Conv + Relu) against
onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.ops import conv as c

from ..conformance import cases as _cases  # noqa: F401 - first: it imports every cases_<family> module
from ..conformance.cases_conv import ref_conv
from .util import evaluate, ops, run_pass

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 4, 6, 5))
W = RNG.standard_normal((6, 2, 3, 3))
B = RNG.standard_normal((6, 1, 1))
GEO = {"stride": (1, 2), "padding": (1, 0, 0, 1), "groups": 2}


def _ref(relu: bool = True) -> np.ndarray:
    y = ref_conv(X, W, (1, 2), (1, 0, 0, 1), (1, 1), 2) + B[None]
    return np.maximum(y, 0) if relu else y


def _graph(bias_first: bool = False, b_shape: tuple = (6, 1, 1)) -> tuple[gn.Graph, gn.Value, gn.Value, gn.Value]:
    with gn.Graph("ce") as g:
        x = gn.input("x", (None, 4, 6, 5), "float64")
        w = gn.param("w", W.shape, "float64", init=W)
        b = gn.param("b", b_shape, "float64", init=B if b_shape == (6, 1, 1) else 0.5)
        conv = gn.conv2d(x, w, **GEO)
        z = b + conv if bias_first else conv + b
        y = gn.relu(z)
    return g, conv, z, y


@pytest.mark.parametrize("bias_first", [False, True])
def test_bias_and_relu_move_into_the_convolution(bias_first: bool) -> None:
    g, _, _, y = _graph(bias_first)
    opt = run_pass(g, "conv_epilogue", y=y)
    assert ops(opt).count("conv2d_bias_act") == 1 and not {"conv2d", "add", "relu"} & set(ops(opt))
    node = next(n for n in opt.nodes if n.op == "conv2d_bias_act")
    assert node.attrs["activation"] == "relu" and node.attrs["stride"] == (1, 2) and node.attrs["groups"] == 2
    np.testing.assert_allclose(evaluate(opt, x=X)["y"], _ref(), rtol=1e-10, atol=1e-12)
    rec = next(r for r in opt.report.records if r.name == "conv_epilogue")
    add = "add(b, conv2d(x, w))" if bias_first else "add(conv2d(x, w), b)"
    assert rec.counts() == {add: 1, "relu(conv2d_bias_act(x, w, b))": 1}


def test_only_the_bias_when_the_sum_is_read_elsewhere() -> None:
    g, _, z, y = _graph()
    opt = run_pass(g, "conv_epilogue", y=y, z=z)
    assert ops(opt).count("conv2d_bias_act") == 1 and "relu" in ops(opt)
    assert next(n for n in opt.nodes if n.op == "conv2d_bias_act").attrs["activation"] == "none"
    out = evaluate(opt, x=X)
    np.testing.assert_allclose(out["z"], _ref(relu=False), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["y"], _ref(), rtol=1e-10, atol=1e-12)


def test_no_fusion_when_the_convolution_is_an_output() -> None:
    g, conv, _, y = _graph()
    assert "conv2d_bias_act" not in ops(run_pass(g, "conv_epilogue", y=y, c=conv))


@pytest.mark.parametrize("b_shape", [(1, 1, 1), (6, 5, 1), (1, 1, 1, 1, 1)])
def test_no_fusion_for_a_bias_that_is_not_one_value_per_channel(b_shape: tuple) -> None:
    g, _, _, y = _graph(b_shape=b_shape)
    assert "conv2d_bias_act" not in ops(run_pass(g, "conv_epilogue", y=y))


def _layer_graph() -> tuple[gn.Graph, gn.Value, gn.Value]:
    with gn.Graph("m") as g:
        x = gn.input("x", (None, 3, 7, 6), "float32")
        y = gn.relu(gn.nn.Conv2d(3, 5, 3, padding=1)(x))
        y = gn.nn.Conv2d(5, 4, 3, stride=2)(y)
        loss = gn.sum(y * y)
    return g, y, loss


def test_inference_compile_fuses_and_reports_training_does_not() -> None:
    g, y, loss = _layer_graph()
    ev = gn.compile(g, outputs={"y": y})
    assert "conv_epilogue" in str(ev.report()) and "add(conv2d(x, w), b)" in str(ev.report())
    assert [n.attrs["activation"] for n in ev.graph.nodes if n.op == "conv2d_bias_act"] == ["relu", "none"]
    assert "conv2d_bias_act" in ev.profile({"x": np.ones((1, 3, 7, 6), "float32")}).table()
    tr = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.0).updates(loss, g.params))
    assert "conv2d_bias_act" not in [n.op for n in tr.graph.nodes]
    xs = np.random.default_rng(1).standard_normal((3, 3, 7, 6)).astype("float32")
    unfused = gn.compile(g, outputs={"y": y}, passes=["cse"])(x=xs)["y"]
    np.testing.assert_allclose(ev(x=xs)["y"], unfused, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_gradient_equals_the_unfused_graphs(seed: int) -> None:
    """Analytic gradients of act(conv + b) and of relu(conv2d + b) agree everywhere, kinks included."""
    rng = np.random.default_rng(seed)
    feeds = {"x": rng.standard_normal((2, 4, 6, 5)), "w": rng.standard_normal((6, 2, 3, 3)),
             "b": rng.standard_normal(6), "gy": rng.standard_normal((2, 6, 5, 2))}
    grads = []
    for fused in (True, False):
        with gn.Graph("g") as g:
            x, w = gn.input("x", (2, 4, 6, 5), "float64"), gn.input("w", (6, 2, 3, 3), "float64")
            b, gy = gn.input("b", (6,), "float64"), gn.input("gy", (2, 6, 5, 2), "float64")
            y = c.conv2d_bias_act(x, w, b, **GEO, activation="relu") if fused else \
                gn.relu(gn.conv2d(x, w, **GEO) + gn.reshape(b, (6, 1, 1)))
            dx, dw, db = gn.grad(gn.sum(y * gy), [x, w, b])
        grads.append(gn.compile(g, outputs={"dx": dx, "dw": dw, "db": db}, passes=["cse"])(**feeds))
    for k in ("dx", "dw", "db"):
        np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-12, atol=1e-12)


def test_bad_bias_is_a_shape_error_naming_the_op() -> None:
    with gn.Graph("bad"):
        x = gn.input("x", (1, 4, 6, 5), "float32")
        w = gn.input("w", (6, 4, 3, 3), "float32")
        with pytest.raises(gn.ShapeError, match="conv2d_bias_act"):
            c.conv2d_bias_act(x, w, gn.input("b", (5,), "float32"))
        with pytest.raises(gn.ShapeError, match="activation"):
            c.conv2d_bias_act(x, w, gn.input("b2", (6,), "float32"), activation="tanh")


def test_onnx_export_is_conv_with_bias_then_relu() -> None:
    pytest.importorskip("onnxruntime")
    from ..backends.onnx.helpers import export_and_compare

    with gn.Graph("ex") as g:
        x = gn.input("x", (None, 4, 6, 5), "float32")
        w = gn.param("w", W.shape, "float32", init=W.astype("float32"))
        b = gn.param("b", (6,), "float32", init=B.ravel().astype("float32"))
        y = c.conv2d_bias_act(x, w, b, **GEO, activation="relu")
    rep = export_and_compare(g, {"y": y}, lambda n: {"x": RNG.standard_normal((n, 4, 6, 5)).astype("float32")})
    assert [n.op_type for n in rep.model.graph.node] == ["Conv", "Relu"]
    assert len(rep.model.graph.node[0].input) == 3  # x, W, B


@pytest.mark.parametrize("batch", [1, 3])
def test_winograd_sized_layer_runs_the_epilogue_in_its_transform(kernel_path: str, batch: int) -> None:
    """A 32->32 layer big enough for the Winograd path (72 tiles per sample): with numba the bias and ReLU run in
    its output transform, without it after the GEMM; both equal the plain reference, NaN inputs included."""
    rng = np.random.default_rng(batch)
    xs = rng.standard_normal((batch, 32, 17, 15)).astype(np.float32)
    xs[0, 3, 4, 5] = np.nan  # poisons the outputs whose windows read it, and only those
    w = (rng.standard_normal((32, 32, 3, 3)) * 0.1).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    with gn.Graph("block") as g:
        x = gn.input("x", (None, 32, 17, 15), "float32")
        wp, bp = gn.param("w", w.shape, "float32", init=w), gn.param("b", (32,), "float32", init=b)
        y = gn.relu(gn.conv2d(x, wp, padding=1) + gn.reshape(bp, (1, -1, 1, 1)))
    ev = gn.compile(g, outputs={"y": y})
    assert [n.op for n in ev.graph.nodes if n.op.startswith("conv")] == ["conv2d_bias_act"]
    row = ev.profile({"x": xs}).table()
    assert ("Winograd" in row and "in the output transform" in row) == (kernel_path == "numba"), row
    ref = ref_conv(xs.astype(np.float64), w.astype(np.float64), pads=(1, 1, 1, 1)) + b[None, :, None, None]
    ref = np.where(np.isnan(ref), np.nan, np.maximum(ref, 0))
    got = ev(x=xs)["y"]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
