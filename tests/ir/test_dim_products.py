"""Symbolic dim arithmetic: reshape's -1 over symbolic dims becomes a product (`?0*12`), exact quotients go back,
feeds bind and check products, the graph's JSON form keeps them, the ONNX export runs in onnxruntime at two batch
sizes. References are NumPy written here and onnxruntime."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.onnx.parity import run_onnxruntime
from graphnn.ir.serialize import from_json, to_json
from graphnn.ir.types import DimProduct, TensorType, dim_div, dim_mul, parse_dim

V = 5


def test_products_are_hashable_comparable_and_print_readably() -> None:
    p = dim_mul("B", 12)
    assert isinstance(p, DimProduct) and str(p) == "B*12" and p == dim_mul(3, "B", 4)
    assert {p: 1}[dim_mul(12, "B")] == 1
    assert dim_mul("T", "B") == dim_mul("B", "T") == "B*T"
    assert dim_mul("B", 1) == "B" and not isinstance(dim_mul("B", 1), DimProduct) and dim_mul(3, 4) == 12
    assert dim_div(p, "B") == 12 and dim_div(p, 4) == "B*3" and dim_div(p, 5) is None and dim_div(p, "T") is None
    assert parse_dim("B*12") == p and parse_dim("B") == "B" and parse_dim(7) == 7
    assert pickle.loads(pickle.dumps(p)) == p and pickle.loads(pickle.dumps(p)).symbols == ("B",)
    assert str(TensorType("float32", ("B*T", 3))) == "float32[B*T,3]"
    assert isinstance(TensorType("float32", ("T*B",)).shape[0], DimProduct)


def test_reshape_minus_one_over_a_symbolic_batch_is_a_product_and_comes_back() -> None:
    with gn.Graph("r") as g:
        x = gn.input("x", ("B", 12, V))
        flat = gn.reshape(x, (-1, V))
        back = gn.reshape(flat, ("B", 12, V))
        back2 = gn.reshape(flat, (-1, 12, V))
        half = gn.reshape(x, ("B", 6, -1))
    assert flat.shape == (dim_mul("B", 12), V) and str(flat.type) == "float32[B*12,5]"
    assert back.shape == ("B", 12, V) and back2.shape == ("B", 12, V) and half.shape == ("B", 6, 10)
    fn = gn.compile(g, outputs={"flat": flat, "back": back, "back2": back2})
    for b in (2, 3):
        xv = np.random.default_rng(b).standard_normal((b, 12, V)).astype("float32")
        out = fn(x=xv)
        np.testing.assert_array_equal(out["flat"], xv.reshape(b * 12, V))
        np.testing.assert_array_equal(out["back"], xv)
        np.testing.assert_array_equal(out["back2"], xv)


def test_reshape_that_does_not_divide_is_a_shape_error() -> None:
    with gn.Graph("r"):
        x = gn.input("x", ("B", 12, V))
        with pytest.raises(gn.ShapeError, match="not a multiple"):
            gn.reshape(x, (-1, 7))
        with pytest.raises(gn.ShapeError, match="not a multiple"):
            gn.reshape(x, ("T", -1))
        with pytest.raises(gn.ShapeError, match="sizes differ"):
            gn.reshape(x, ("B", 60, 2))


def test_flatten_of_nchw_and_back() -> None:
    with gn.Graph("f") as g:
        x = gn.input("x", (None, 3, 4, 5))
        flat = gn.reshape(x, (x.shape[0], -1))
        back = gn.reshape(flat, (-1, 3, 4, 5))
    assert flat.shape[1] == 60 and back.shape == x.shape
    fn = gn.compile(g, outputs={"flat": flat, "back": back})
    xv = np.arange(2 * 60, dtype="float32").reshape(2, 3, 4, 5)
    out = fn(x=xv)
    np.testing.assert_array_equal(out["flat"], xv.reshape(2, 60))
    np.testing.assert_array_equal(out["back"], xv)


def _sequence_loss() -> tuple[gn.Graph, gn.Value, gn.Value]:
    with gn.Graph("seq") as g:
        x = gn.input("x", (None, 12, 4))
        y = gn.input("y", (None, 12), "int64")
        w = gn.param("w", (4, V), init=np.random.default_rng(0).standard_normal((4, V)).astype("float32"))
        logits = x @ w
        loss = gn.cross_entropy(gn.softmax(gn.reshape(logits, (-1, V))), gn.reshape(y, (-1,)))
    return g, loss, logits


def _reference_loss(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    z = (x @ w).reshape(-1, V).astype(np.float64)
    z -= z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(logp)), y.reshape(-1)].mean())


def test_sequence_loss_compiles_and_runs_at_two_batch_sizes() -> None:
    g, loss, _ = _sequence_loss()
    w = g.storage["w"].copy()
    fn = gn.compile(g, outputs={"loss": loss, "grad": gn.grad(loss, [g.params[0]])[0]})
    rng = np.random.default_rng(1)
    for b in (2, 7, 2):
        x = rng.standard_normal((b, 12, 4)).astype("float32")
        y = rng.integers(0, V, (b, 12))
        out = fn(x=x, y=y)
        assert out["loss"] == pytest.approx(_reference_loss(x, y, w), rel=1e-5)
        eps, dw = 1e-6, np.zeros_like(w, dtype=np.float64)
        for i in np.ndindex(*w.shape):  # float64 central differences of the NumPy reference
            wp, wm = w.astype(np.float64), w.astype(np.float64)
            wp[i] += eps
            wm[i] -= eps
            dw[i] = (_reference_loss(x, y, wp) - _reference_loss(x, y, wm)) / (2 * eps)
        np.testing.assert_allclose(out["grad"], dw, rtol=1e-3, atol=1e-5)


def test_feeds_that_contradict_a_product_are_feed_errors() -> None:
    g, loss, _ = _sequence_loss()
    fn = gn.compile(g, outputs={"loss": loss})
    x = np.zeros((3, 12, 4), "float32")
    with pytest.raises(gn.FeedError, match="y"):
        fn(x=x, y=np.zeros((2, 12), "int64"))  # y's batch contradicts x's
    fn(x=x, y=np.zeros((3, 12), "int64"))
    with pytest.raises(gn.FeedError):
        fn(x=x, y=np.zeros((4, 12), "int64"))  # after a plan exists for B=3, the fast path checks too


def test_an_input_unified_with_a_product_is_bound_and_checked() -> None:
    with gn.Graph("u") as g:
        x = gn.input("x", ("B", 12, V))
        t = gn.input("t", (None, V))  # its rows must be B*12
        d = gn.reshape(x, (-1, V)) - t
    assert str(t.type) == "float32[B*12,5]"
    fn = gn.compile(g, outputs={"d": d})
    x3 = np.ones((3, 12, V), "float32")
    np.testing.assert_array_equal(fn(x=x3, t=np.ones((36, V), "float32"))["d"], np.zeros((36, V)))
    with pytest.raises(gn.FeedError, match=r"B\*12 = 36"):
        fn(x=x3, t=np.ones((35, V), "float32"))


def test_an_input_declared_as_a_product_alone_binds_its_factor() -> None:
    with gn.Graph("p") as g:
        x = gn.input("x", ("B*4", 3))
        y = gn.reshape(x, ("B", 12))
    assert y.shape == ("B", 12)
    fn = gn.compile(g, outputs={"y": y})
    np.testing.assert_array_equal(fn(x=np.ones((8, 3), "float32"))["y"], np.ones((2, 12)))
    with pytest.raises(gn.FeedError, match="not a multiple of 4"):
        fn(x=np.ones((7, 3), "float32"))


def test_products_survive_the_json_form() -> None:
    g, loss, _ = _sequence_loss()
    g.output("loss", loss)
    text = to_json(g)
    assert '"?' in text and "*12" in text  # the product is written as text
    back = from_json(text)
    assert str(back) == str(g)
    assert any(isinstance(d, DimProduct) for n in back.nodes for o in n.outputs for d in o.type.shape)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((3, 12, 4)).astype("float32"), rng.integers(0, V, (3, 12))
    assert gn.compile(back)(x=x, y=y)["loss"] == pytest.approx(_reference_loss(x, y, g.storage["w"]), rel=1e-5)


def test_onnx_export_of_a_product_runs_in_onnxruntime_at_two_batch_sizes() -> None:
    g, _, logits = _sequence_loss()
    with g:
        probs = gn.softmax(gn.reshape(logits, (-1, V)))
    model = gn.onnx.export(g, None, outputs={"probs": probs}, check_parity=False).model
    out_dims = [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == ["batch*12", V]
    w = g.storage["w"]
    for b in (2, 5):
        x = np.random.default_rng(b).standard_normal((b, 12, 4)).astype("float32")
        z = (x @ w).reshape(-1, V)
        ref = np.exp(z - z.max(1, keepdims=True))
        ref /= ref.sum(1, keepdims=True)
        np.testing.assert_allclose(run_onnxruntime(model, {"x": x})["probs"], ref, rtol=1e-5, atol=1e-6)
    back = gn.onnx.load(model)
    x = np.random.default_rng(9).standard_normal((4, 12, 4)).astype("float32")
    assert gn.compile(back)(x=x)["probs"].shape == (48, V)


def test_validate_mode_and_cost_estimates_bind_products() -> None:
    with gn.Graph("v") as g:
        x = gn.input("x", ("B", 12, V))
        t = gn.input("t", (None, V))
        d = gn.sum((gn.reshape(x, (-1, V)) - t) ** 2.0)
    fn = gn.compile(g, outputs={"d": d}, validate=True)
    x3 = np.random.default_rng(0).standard_normal((3, 12, V)).astype("float32")
    t3 = np.random.default_rng(1).standard_normal((36, V)).astype("float32")
    assert fn(x=x3, t=t3)["d"] == pytest.approx(float(((x3.reshape(36, V) - t3) ** 2).sum()), rel=1e-5)


def test_tile_of_a_symbolic_dim_is_a_product_with_its_gradient() -> None:
    with gn.Graph("t") as g:
        x = gn.input("x", ("B", 3), "float64")
        y = gn.tile(x, (2, 1))
        loss = gn.sum(y * y)
        (dx,) = gn.grad(loss, [x])
    assert str(y.type) == "float64[B*2,3]"
    fn = gn.compile(g, outputs={"y": y, "dx": dx})
    xv = np.arange(6, dtype="float64").reshape(2, 3)
    out = fn(x=xv)
    np.testing.assert_array_equal(out["y"], np.tile(xv, (2, 1)))
    np.testing.assert_allclose(out["dx"], 4 * xv)  # d/dx of sum over two copies of x**2


def test_export_with_parity_check_of_an_input_unified_with_a_product() -> None:
    # The parity run draws feeds for every input: t's rows must be x's batch times 12.
    with gn.Graph("p") as g:
        x = gn.input("x", (None, 12, V))
        t = gn.input("t", (None, V))
        d = gn.reshape(x, (-1, V)) - t
    rep = gn.onnx.export(g, None, outputs={"d": d})  # check_parity defaults on: onnxruntime vs graphnn
    x2, t2 = np.ones((2, 12, V), "float32"), np.full((24, V), 0.5, "float32")
    np.testing.assert_allclose(run_onnxruntime(rep.model, {"x": x2, "t": t2})["d"], np.full((24, V), 0.5))
