"""Training through backend="cupy": same losses and parameters as NumPy, parameters stay on the device
between steps, storage is shared with NumPy functions and serialization in both directions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.serialize import from_json, to_json

from .conftest import to_host

LR = 0.1


def _mlp(seed: int = 0) -> tuple[gn.Graph, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    with gn.Graph("mlp") as g:
        x = gn.input("x", ("batch", 6), "float32")
        y = gn.input("y", ("batch",), "int64")
        w1 = gn.param("w1", (6, 8), "float32", init=(rng.standard_normal((6, 8)) * 0.5).astype("float32"))
        b1 = gn.param("b1", (8,), "float32", init=np.zeros(8, "float32"))
        w2 = gn.param("w2", (8, 3), "float32", init=(rng.standard_normal((8, 3)) * 0.5).astype("float32"))
        logits = gn.relu(x @ w1 + b1) @ w2
        loss = gn.cross_entropy(gn.softmax(logits), y)
        ps = [w1, b1, w2]
        grads = gn.grad(loss, ps)
    return g, {"loss": loss, "logits": logits, "updates": {p: p - gp * LR for p, gp in zip(ps, grads)}}


def _data(n: int = 16, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)).astype("float32"), rng.integers(0, 3, n)


def _train(backend: str, steps: int = 5) -> tuple[gn.Graph, list[float], Any]:
    g, v = _mlp()
    fn = gn.compile(g, outputs={"loss": v["loss"]}, updates=v["updates"], backend=backend)
    X, Y = _data()
    losses = [float(to_host(fn(x=X, y=Y)["loss"])) for _ in range(steps)]
    return g, losses, fn


def test_training_matches_numpy_and_reads_back(standin) -> None:
    g_np, l_np, _ = _train("numpy")
    g_cp, l_cp, _ = _train("cupy")
    np.testing.assert_allclose(l_cp, l_np, rtol=1e-5)
    assert l_cp[-1] < l_cp[0]
    for k in ("w1", "b1", "w2"):  # reading the host storage brings the device values back first
        np.testing.assert_allclose(g_cp.storage[k], g_np.storage[k], rtol=1e-5, atol=1e-7)


def test_parameters_stay_on_the_device(standin) -> None:
    g, v = _mlp()
    fn = gn.compile(g, outputs={"loss": v["loss"]}, updates=v["updates"], backend="cupy")
    X, Y = _data()
    fn(x=X, y=Y)
    st = standin.STATS
    h2d, d2h = st.h2d_bytes, st.d2h_bytes
    for _ in range(3):
        fn(x=X, y=Y)
    assert st.h2d_bytes - h2d == 3 * (X.nbytes + Y.nbytes)  # only the feeds cross the bus
    assert st.d2h_bytes == d2h  # the loss stays a device array; parameters are not read back
    dX, dY = standin.asarray(X), standin.asarray(Y)  # device feeds: nothing crosses at all
    h2d = st.h2d_bytes
    out = fn(x=dX, y=dY)
    assert st.h2d_bytes == h2d and isinstance(out["loss"], standin.ndarray)


def test_storage_is_shared_with_numpy_functions_both_ways(standin) -> None:
    g, v = _mlp()
    X, Y = _data()
    train_cp = gn.compile(g, outputs={"loss": v["loss"]}, updates=v["updates"], backend="cupy")
    train_np = gn.compile(g, outputs={"loss": v["loss"]}, updates=v["updates"])
    eval_np = gn.compile(g, outputs={"logits": v["logits"]})
    eval_cp = gn.compile(g, outputs={"logits": v["logits"]}, backend="cupy", host_outputs=True)
    ref_g, ref_v = _mlp()
    ref = gn.compile(ref_g, outputs={"loss": ref_v["loss"]}, updates=ref_v["updates"])
    ref_eval = gn.compile(ref_g, outputs={"logits": ref_v["logits"]})
    for train in (train_cp, train_cp, train_np, train_cp, train_np, train_np, train_cp):
        got = to_host(train(x=X, y=Y)["loss"])
        np.testing.assert_allclose(got, ref(x=X, y=Y)["loss"], rtol=1e-5)
        want = ref_eval(x=X, y=Y)["logits"]
        np.testing.assert_allclose(eval_np(x=X, y=Y)["logits"], want, rtol=1e-4, atol=1e-6)
        cp_out = eval_cp(x=X, y=Y)["logits"]
        assert type(cp_out) is np.ndarray  # host_outputs=True
        np.testing.assert_allclose(cp_out, want, rtol=1e-4, atol=1e-6)
    # Serialization (and so save/export) reads the trained values.
    train_cp(x=X, y=Y)
    ref(x=X, y=Y)
    h = from_json(to_json(g))
    np.testing.assert_allclose(h.storage["w1"], ref_g.storage["w1"], rtol=1e-5, atol=1e-7)


def test_sync_to_host_and_host_writes(standin) -> None:
    g, v = _mlp()
    fn = gn.compile(g, outputs={"loss": v["loss"]}, updates=v["updates"], backend="cupy")
    X, Y = _data()
    w0 = g.storage._values["w1"].copy()  # the raw host array, without triggering the sync hook
    fn(x=X, y=Y)
    assert np.array_equal(g.storage._values["w1"], w0)  # the step ran on the device copy
    fn.sync_to_host()
    assert not np.array_equal(g.storage._values["w1"], w0)
    trained = g.storage._values["w1"].copy()
    # A host write (in place or by replacement) reaches the device before the next call.
    g.storage["w1"][...] = 0
    g.storage["b1"] = np.ones(8, np.float32)
    fe = gn.compile(g, outputs={"logits": v["logits"]}, backend="cupy", host_outputs=True)
    np.testing.assert_allclose(fe(x=X, y=Y)["logits"], np.maximum(X @ np.zeros((6, 8)) + 1, 0) @ g.storage["w2"], rtol=1e-5)
    assert not np.array_equal(trained, 0)


def test_fused_loss_runs_as_few_launches(standin) -> None:
    with gn.Graph("sce") as g:
        x = gn.input("x", ("batch", 10), "float32")
        y = gn.input("y", ("batch",), "int64")
        w = gn.param("w", (10, 10), "float32", init=np.eye(10, dtype="float32"))
        z = x @ w
        loss = gn.cross_entropy(gn.softmax(z), y)
        (gz,) = gn.grad(loss, [z])
    fwd = gn.compile(g, outputs={"loss": loss}, backend="cupy")
    assert [n.op for n in fwd.graph.nodes] == ["matmul", "softmax_cross_entropy"]
    X = standin.asarray(np.random.default_rng(0).standard_normal((32, 10)).astype("float32"))
    Y = standin.asarray(np.arange(32) % 10)
    fwd(x=X, y=Y)
    c0 = standin.STATS.calls
    out = fwd(x=X, y=Y)["loss"]
    # matmul + label check + row max + sum-of-exp reduction + log-sum-exp-minus-picked kernel + mean
    assert standin.STATS.calls - c0 <= 6, standin.STATS.calls - c0
    Xh, Yh = X.get(), Y.get()
    s = Xh - Xh.max(1, keepdims=True)
    np.testing.assert_allclose(to_host(out), np.mean(np.log(np.exp(s).sum(1)) - s[np.arange(32), Yh]), rtol=1e-6)
    bwd = gn.compile(g, outputs={"gz": gz}, backend="cupy")
    bwd(x=X, y=Y)
    c0 = standin.STATS.calls
    got = to_host(bwd(x=X, y=Y)["gz"])
    # matmul + softmax (row max, sum-of-exp reduction, normalize kernel) + one_hot (label check, compare
    # kernel) + one fused (p - onehot) * scale kernel
    assert standin.STATS.calls - c0 <= 7, standin.STATS.calls - c0
    p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    np.testing.assert_allclose(got, (p - np.eye(10)[Yh]) / 32, rtol=1e-5, atol=1e-7)


def test_numerics_check_and_profile_on_cupy(standin) -> None:
    with gn.Graph("nan") as g:
        x = gn.input("x", (3,), "float32")
        y = gn.log(x) * 2.0
    fn = gn.compile(g, outputs={"y": y}, backend="cupy", check_numerics=True)
    with pytest.raises(gn.NumericsError, match="non-finite"):
        fn(x=np.array([1.0, -1.0, 2.0], np.float32))
    g2, v = _mlp()
    f2 = gn.compile(g2, outputs={"loss": v["loss"]}, updates=v["updates"], backend="cupy")
    X, Y = _data()
    before = {k: g2.storage[k].copy() for k in ("w1", "b1", "w2")}
    prof = f2.profile({"x": X, "y": Y}, repeat=2)
    assert prof.runs == 2
    for k, a in before.items():  # profiling measures; it does not train
        np.testing.assert_array_equal(g2.storage[k], a)
