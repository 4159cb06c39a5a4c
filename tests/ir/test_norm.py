"""batch_norm (train/eval forms and running statistics), layer_norm: kernels against NumPy references,
gradient rules against float64 central differences, and the mode pass that picks the form."""

from __future__ import annotations

import numpy as np
import pytest
from .nnops_gradcheck import check_vjp

import graphnn as gn
from graphnn.ir.ops import norm


def ref_bn_train(x, gamma, beta, eps, axis=1):
    r = tuple(i for i in range(x.ndim) if i != axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    mean = x.mean(axis=r)
    var = ((x - mean.reshape(shape)) ** 2).mean(axis=r)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)
    m = x.size // x.shape[axis]
    return y, mean, var * m / (m - 1)


def ref_bn_eval(x, gamma, beta, mean, var, eps, axis=1):
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)


def _bn_graph(xshape, dtype="float64", momentum=0.1, eps=1e-5):
    c = xshape[1]
    rng = np.random.default_rng(0)
    with gn.Graph("bn") as g:
        x = gn.input("x", (None,) + xshape[1:], dtype)
        gamma = gn.param("gamma", (c,), dtype, init=rng.uniform(0.5, 1.5, c))
        beta = gn.param("beta", (c,), dtype, init=rng.normal(size=c))
        rm = gn.state("rm", (c,), dtype, init=rng.normal(size=c))
        rv = gn.state("rv", (c,), dtype, init=rng.uniform(0.5, 2.0, c))
        out = gn.batch_norm(x, gamma, beta, rm, rv, momentum=momentum, eps=eps)
    return g, out, rm, rv


@pytest.mark.parametrize("xshape", [(8, 3), (4, 3, 5, 2)])
def test_batch_norm_train_mode_uses_batch_stats_and_updates_running(xshape):
    g, out, rm, rv = _bn_graph(xshape, momentum=0.2)
    f = gn.compile(g, outputs={"y": out.y}, updates={rm: out.running_mean, rv: out.running_var}, mode="train")
    assert "batch_norm_train" in [n.op for n in f.graph.nodes] and "batch_norm" not in [n.op for n in f.graph.nodes]
    rng = np.random.default_rng(1)
    rm0, rv0 = g.storage["rm"].copy(), g.storage["rv"].copy()
    gamma, beta = g.storage["gamma"], g.storage["beta"]
    for _ in range(3):  # the running statistics follow the momentum blend step after step
        x = rng.normal(2.0, 3.0, size=xshape)
        y = f(x=x)["y"]
        ry, mean, uvar = ref_bn_train(x, gamma, beta, 1e-5)
        np.testing.assert_allclose(y, ry, rtol=1e-10, atol=1e-10)
        rm0, rv0 = 0.8 * rm0 + 0.2 * mean, 0.8 * rv0 + 0.2 * uvar
        np.testing.assert_allclose(g.storage["rm"], rm0, rtol=1e-12)
        np.testing.assert_allclose(g.storage["rv"], rv0, rtol=1e-12)


@pytest.mark.parametrize("xshape", [(8, 3), (4, 3, 5, 2)])
def test_batch_norm_eval_mode_uses_running_stats_and_keeps_them(xshape):
    g, out, rm, rv = _bn_graph(xshape)
    f = gn.compile(g, outputs={"y": out.y}, updates={rm: out.running_mean, rv: out.running_var}, mode="eval")
    assert "batch_norm_infer" in [n.op for n in f.graph.nodes]
    rm0, rv0 = g.storage["rm"].copy(), g.storage["rv"].copy()
    x = np.random.default_rng(2).normal(size=xshape)
    y = f(x=x)["y"]
    np.testing.assert_allclose(y, ref_bn_eval(x, g.storage["gamma"], g.storage["beta"], rm0, rv0, 1e-5), rtol=1e-12)
    np.testing.assert_array_equal(g.storage["rm"], rm0)
    np.testing.assert_array_equal(g.storage["rv"], rv0)
    # Eval after training sees the trained running statistics (one storage shared by both functions).
    ft = gn.compile(g, outputs={"y": out.y}, updates={rm: out.running_mean, rv: out.running_var})
    ft(x=x + 5.0)
    assert not np.allclose(g.storage["rm"], rm0)
    np.testing.assert_allclose(f(x=x)["y"], ref_bn_eval(x, g.storage["gamma"], g.storage["beta"], g.storage["rm"],
                                                         g.storage["rv"], 1e-5), rtol=1e-12)


def test_batch_norm_float32_kernels_keep_dtype():
    g, out, rm, rv = _bn_graph((6, 4, 3, 3), "float32")
    x = np.random.default_rng(3).normal(size=(6, 4, 3, 3)).astype("float32")
    for mode in ("train", "eval"):
        f = gn.compile(g, outputs={"y": out.y, "rm": out.running_mean, "rv": out.running_var}, mode=mode)
        o = f(x=x)
        assert {k: v.dtype for k, v in o.items()} == {"y": np.float32, "rm": np.float32, "rv": np.float32}
    # The unlowered op (training semantics) has a kernel too, for graphs run without the pipeline.
    f = gn.compile(g, outputs={"y": out.y}, passes=["dead_code"], mode="train")
    assert f(x=x)["y"].dtype == np.float32


@pytest.mark.parametrize("xshape,axis", [((6, 3), 1), ((3, 2, 4, 3), 1), ((4, 3, 2), 2)])
def test_batch_norm_train_gradients(xshape, axis):
    rng = np.random.default_rng(4)
    c = xshape[axis]
    arrays = {"x": rng.normal(size=xshape), "gamma": rng.uniform(0.5, 1.5, c), "beta": rng.normal(size=c)}
    check_vjp(lambda x, gm, bt: norm.batch_norm_train(x, gm, bt, 1e-3, axis), arrays)  # all three outputs
    check_vjp(lambda x, gm, bt: norm.batch_norm_train(x, gm, bt, 1e-3, axis), arrays, cot_outputs=[0])
    check_vjp(lambda x, gm, bt: norm.batch_norm_train(x, gm, bt, 1e-3, axis), arrays, cot_outputs=[2])


def test_batch_norm_unlowered_and_infer_gradients():
    rng = np.random.default_rng(5)
    xshape, c = (3, 2, 3, 2), 2
    arrays = {"x": rng.normal(size=xshape), "gamma": rng.uniform(0.5, 1.5, c), "beta": rng.normal(size=c),
              "rm": rng.normal(size=c), "rv": rng.uniform(0.5, 2.0, c)}
    check_vjp(lambda x, gm, bt, m, v: tuple(gn.batch_norm(x, gm, bt, m, v, momentum=0.3, eps=1e-3)), arrays)
    check_vjp(lambda x, gm, bt, m, v: norm.batch_norm_infer(x, gm, bt, m, v, 1e-3), arrays)


def test_batch_norm_type_errors():
    with gn.Graph():
        x = gn.input("x", (None, 3, 4, 4))
        v3, v4 = gn.input("v3", (3,)), gn.input("v4", (4,))
        with pytest.raises(gn.ShapeError, match="channels"):
            gn.batch_norm(x, v4, v3, v3, v3)
        with pytest.raises(gn.ShapeError, match="momentum"):
            gn.batch_norm(x, v3, v3, v3, v3, momentum=1.5)
        with pytest.raises(gn.DTypeError):
            gn.batch_norm(x, v3, v3, v3, gn.input("v64", (3,), "float64"))


def ref_layer_norm(x, gamma, beta, axis, eps):
    r = tuple(range(axis, x.ndim))
    mean = x.mean(axis=r, keepdims=True)
    var = x.var(axis=r, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


@pytest.mark.parametrize("xshape,axis", [((4, 5), -1), ((2, 3, 4), 1), ((2, 3, 4), 2), ((3, 4), 0)])
def test_layer_norm_forward_and_gradients(xshape, axis):
    rng = np.random.default_rng(6)
    ax = axis % len(xshape)
    arrays = {"x": rng.normal(1.0, 2.0, size=xshape), "gamma": rng.uniform(0.5, 1.5, xshape[ax:]),
              "beta": rng.normal(size=xshape[ax:])}
    with gn.Graph() as g:
        ins = [gn.input(k, a.shape, "float64") for k, a in arrays.items()]
        y = gn.layer_norm(*ins, axis=axis, eps=1e-4)
    out = gn.compile(g, outputs={"y": y})(**arrays)["y"]
    np.testing.assert_allclose(out, ref_layer_norm(arrays["x"], arrays["gamma"], arrays["beta"], ax, 1e-4),
                               rtol=1e-12, atol=1e-12)
    check_vjp(lambda x, gm, bt: gn.layer_norm(x, gm, bt, axis=axis, eps=1e-4), arrays)


def test_layer_norm_default_affine_and_errors():
    x = np.random.default_rng(7).normal(size=(3, 4)).astype("float32")
    with gn.Graph() as g:
        xv = gn.input("x", (None, 4))
        y = gn.layer_norm(xv)
    with gn.Graph():
        with pytest.raises(gn.ShapeError, match="normalized shape"):
            gn.layer_norm(gn.input("x", (None, 4)), gn.input("g3", (3,)), gn.input("b3", (3,)))
    out = gn.compile(g, outputs={"y": y})(x=x)["y"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref_layer_norm(x, 1.0, 0.0, 1, 1e-5), rtol=1e-5, atol=1e-5)
