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


def _pooled_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray, relu: bool = True) -> np.ndarray:
    """max over 2x2 windows (stride 2, floor) of act(conv + b), in float64, NaN wherever a window holds one."""
    y = ref_conv(x.astype(np.float64), w.astype(np.float64), pads=(1, 1, 1, 1)) + b[None, :, None, None]
    y = np.where(np.isnan(y), np.nan, np.maximum(y, 0)) if relu else y
    hp, wp = y.shape[2] // 2, y.shape[3] // 2
    win = np.stack([y[:, :, a:2 * hp:2, c_:2 * wp:2] for a in (0, 1) for c_ in (0, 1)])
    return np.where(np.isnan(win).any(axis=0), np.nan, np.nanmax(np.where(np.isnan(win), -np.inf, win), axis=0))


def _pool_graph(ch: int, k: int, hw: tuple, w: np.ndarray, b: np.ndarray, relu: bool = True,
                pool: tuple = (2, 2, 0)) -> tuple[gn.Graph, gn.Value]:
    with gn.Graph("pooled") as g:
        x = gn.input("x", (None, ch, *hw), "float32")
        wp, bp = gn.param("w", w.shape, "float32", init=w), gn.param("b", (k,), "float32", init=b)
        h = gn.conv2d(x, wp, padding=1) + gn.reshape(bp, (1, -1, 1, 1))
        y = gn.max_pool2d(gn.relu(h) if relu else h, pool[0], pool[1], pool[2])
    return g, y


@pytest.mark.parametrize("ch,k,batch", [(4, 6, 2), (32, 32, 3), (64, 16, 2), (64, 16, 1)])
def test_a_2x2_max_pool_moves_into_the_epilogue(kernel_path: str, ch: int, k: int, batch: int) -> None:
    """conv + bias + ReLU + 2x2 max pool is one node; on the GEMM path (4 channels), F(2x2, 3x3) (32) and
    F(4x4, 3x3) (64, batch 2; batch 1 falls back to F(2x2, 3x3)), with numba and without, it equals pooling the
    plain reference, odd sizes (the last row and column dropped) and NaN included."""
    rng = np.random.default_rng(ch + batch)
    hw = (17, 15) if ch < 64 else (23, 21)
    xs = rng.standard_normal((batch, ch, *hw)).astype(np.float32)
    xs[-1, 1, 6, 7] = np.nan
    w = (rng.standard_normal((k, ch, 3, 3)) / np.sqrt(9 * ch)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    g, y = _pool_graph(ch, k, hw, w, b)
    ev = gn.compile(g, outputs={"y": y})
    fused = [n for n in ev.graph.nodes if n.op.startswith("conv") or n.op == "max_pool2d"]
    assert [(n.op, n.attrs.get("pool")) for n in fused] == [("conv2d_bias_act", 2)]
    ref = _pooled_ref(xs, w, b)
    got = ev(x=xs)["y"]
    assert got.shape == ref.shape == (batch, k, hw[0] // 2, hw[1] // 2)
    if kernel_path == "numba" and ch >= 64 and batch > 1:  # F(4x4, 3x3): a NaN may spread within its 4x4 tile
        assert (np.isnan(got) >= np.isnan(ref)).all() and np.isnan(got).sum() <= 4 * np.isnan(ref).sum()
    else:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(got)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=0, atol=5e-5 * np.nanmax(np.abs(ref)))
    text = ev.profile({"x": xs}).table()
    assert "2x2 max pool" in text and ("Winograd" in text) == (kernel_path == "numba" and ch >= 32), text


@pytest.mark.parametrize("pool", [(3, 2, 0), (2, 1, 0), (2, 2, 1)])
def test_other_pools_stay_separate(pool: tuple) -> None:
    w, b = np.ones((6, 4, 3, 3), np.float32), np.zeros(6, np.float32)
    g, y = _pool_graph(4, 6, (8, 8), w, b, pool=pool)
    ops_after = [n.op for n in gn.compile(g, outputs={"y": y}).graph.nodes]
    assert "max_pool2d" in ops_after and "conv2d_bias_act" in ops_after


def test_no_pool_fusion_when_the_activation_is_read_elsewhere() -> None:
    w, b = np.ones((6, 4, 3, 3), np.float32), np.zeros(6, np.float32)
    with gn.Graph("two") as g:
        x = gn.input("x", (None, 4, 8, 8), "float32")
        wp, bp = gn.param("w", w.shape, "float32", init=w), gn.param("b", (6,), "float32", init=b)
        a = gn.relu(gn.conv2d(x, wp, padding=1) + gn.reshape(bp, (1, -1, 1, 1)))
        y = gn.max_pool2d(a, 2)
    ev = gn.compile(g, outputs={"y": y, "a": a})
    assert [n.attrs["pool"] for n in ev.graph.nodes if n.op == "conv2d_bias_act"] == [1]
    xs = np.random.default_rng(0).standard_normal((2, 4, 8, 8)).astype(np.float32)
    out = ev(x=xs)
    np.testing.assert_allclose(out["y"], _pooled_ref(xs, w, b), rtol=1e-5, atol=1e-5)


def test_the_pooled_form_has_no_gradient_and_checks_its_map() -> None:
    with gn.Graph("g") as g:
        x = gn.input("x", (2, 4, 6, 6), "float32")
        w, b = gn.input("w", (6, 4, 3, 3), "float32"), gn.input("b", (6,), "float32")
        y = c.conv2d_bias_act(x, w, b, padding=1, pool=2)
        assert y.shape == (2, 6, 3, 3)
        dw, = gn.grad(gn.sum(y), [w])
        with pytest.raises(gn.ShapeError, match="pool must be one of"):
            c.conv2d_bias_act(x, w, b, padding=1, pool=3)
        with pytest.raises(gn.ShapeError, match="static convolution output of at least 2x2"):
            c.conv2d_bias_act(gn.input("z", (2, 4, 3, 6), "float32"), w, b, pool=2)  # a 1 x 4 map
    with pytest.raises(gn.GraphnnError, match="conv2d_bias_act.*no gradient"):
        gn.compile(g, outputs={"dw": dw})


def test_onnx_export_of_the_pooled_form_is_conv_relu_maxpool() -> None:
    pytest.importorskip("onnxruntime")
    from ..backends.onnx.helpers import export_and_compare

    rng = np.random.default_rng(7)
    w, b = rng.standard_normal((6, 4, 3, 3)).astype("float32"), rng.standard_normal(6).astype("float32")
    with gn.Graph("ex") as g:
        x = gn.input("x", (None, 4, 7, 9), "float32")
        y = c.conv2d_bias_act(x, gn.param("w", w.shape, "float32", init=w), gn.param("b", (6,), "float32", init=b),
                              padding=1, activation="relu", pool=2)
    rep = export_and_compare(g, {"y": y}, lambda n: {"x": rng.standard_normal((n, 4, 7, 9)).astype("float32")})
    assert [n.op_type for n in rep.model.graph.node] == ["Conv", "Relu", "MaxPool"]
