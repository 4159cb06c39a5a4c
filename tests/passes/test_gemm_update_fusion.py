"""The gemm_update_fusion pass and the gemm_update kernel behind it: an SGD step's `w - lr * (a @ b)` becomes one
gemm written into w; the parameters after several steps equal a plain NumPy SGD step written here (float32
rounding apart), on the BLAS (ctypes) path and on the NumPy fallback (GRAPHNN_NO_CBLAS=1); the pass leaves alone
what it must not fuse (a product read elsewhere, a product that reads the weight, momentum)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.compiled import cblas
from graphnn.passes import gemm_update_fusion

RNG = np.random.default_rng(0)
SIZES = [7, 5, 3]  # odd sizes: no dimension a multiple of a BLAS block


@pytest.fixture(autouse=True)
def fuse_small_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test nets' weights are tiny (odd sizes, quick to check): fuse them as the big ones are."""
    monkeypatch.setattr(gemm_update_fusion, "MIN_ELEMENTS", 1)


@pytest.fixture(params=["cblas", "numpy"])
def gemm_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The BLAS gemm through ctypes, or the NumPy fallback (product, scale, add)."""
    if request.param == "cblas":
        monkeypatch.delenv("GRAPHNN_NO_CBLAS", raising=False)
        if cblas.gemm_for("float32") is None:
            pytest.skip("NumPy's BLAS exports no CBLAS sgemm here")
    else:
        monkeypatch.setenv("GRAPHNN_NO_CBLAS", "1")
        assert cblas.gemm_for("float32") is None
    return request.param


def _params(dtype: str = "float32") -> list[np.ndarray]:
    ps = []
    for i, o in itertools.pairwise(SIZES):
        ps += [RNG.standard_normal((i, o)).astype(dtype), RNG.standard_normal(o).astype(dtype)]
    return ps


def _mlp(ps: list[np.ndarray], dtype: str = "float32") -> tuple[gn.Graph, gn.Value, list[gn.Value]]:
    with gn.Graph("mlp") as g:
        x = gn.input("x", (None, SIZES[0]), dtype)
        y = gn.input("y", (None,), "int64")
        vs = [gn.param(f"p{k}", p.shape, dtype, init=p.copy()) for k, p in enumerate(ps)]
        h = gn.relu(x @ vs[0] + vs[1])
        loss = gn.cross_entropy(gn.softmax(h @ vs[2] + vs[3]), y)
    return g, loss, vs


def _numpy_sgd(ps: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> None:
    """One plain SGD step of the same MLP, in place, in float64."""
    w0, b0, w1, b1 = ps
    z = x @ w0 + b0
    h = np.maximum(z, 0)
    s = h @ w1 + b1
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = p.copy()
    d[np.arange(len(y)), y] -= 1
    d /= len(y)
    dh = (d @ w1.T) * (z > 0)
    grads = [x.T @ dh, dh.sum(0), h.T @ d, d.sum(0)]
    for q, gq in zip(ps, grads):
        q -= lr * gq


def _ops(fn: gn.Function) -> list[str]:
    return [n.op for n in fn.graph.nodes]


def _check_steps(fn: gn.Function, g: gn.Graph, ps: list[np.ndarray], lr: float, batch: int, steps: int = 3,
                 dtype: str = "float32") -> None:
    ref = [p.astype(np.float64) for p in ps]
    for _ in range(steps):
        x = RNG.standard_normal((batch, SIZES[0])).astype(dtype)
        y = RNG.integers(0, SIZES[-1], batch)
        fn(x=x, y=y)
        _numpy_sgd(ref, x.astype(np.float64), y, lr)
    tol = 1e-6 if dtype == "float32" else 1e-12
    for k, r in enumerate(ref):
        np.testing.assert_allclose(g.storage[f"p{k}"], r, rtol=tol, atol=tol * np.abs(r).max(), err_msg=f"p{k}")


@pytest.mark.parametrize("batch", [1, 6])
def test_sgd_step_is_fused_and_matches_numpy(gemm_path: str, batch: int) -> None:
    ps = _params()
    g, loss, vs = _mlp(ps)
    lr = 0.1
    fn = gn.compile(g, {"loss": loss}, {v: v - lr * d for v, d in zip(vs, gn.grad(loss, vs))})
    assert _ops(fn).count("gemm_update") == 2  # both weights; the biases' gradients are sums, not products
    fired = [f for f in fn.report().fired if f["pass"] == "gemm_update_fusion"]
    assert len(fired) == 2
    _check_steps(fn, g, ps, lr, batch)


def test_viewer_counts_the_fused_product() -> None:
    """2k + 2 FLOPs per weight element (the product over the batch, then the scaled add), as the viewer reports."""
    from graphnn.viz.costs import bind_dims, flops

    g, loss, vs = _mlp(_params())
    fn = gn.compile(g, {"loss": loss}, {v: v - 0.1 * d for v, d in zip(vs, gn.grad(loss, vs))})
    nodes = [n for n in fn.graph.nodes if n.op == "gemm_update"]
    env = bind_dims(fn.graph, feeds={"x": np.zeros((6, SIZES[0]), np.float32), "y": np.zeros(6, np.int64)})
    got = sorted(flops(n, env) for n in nodes)
    assert got == sorted([(2 * 6 + 2) * SIZES[0] * SIZES[1], (2 * 6 + 2) * SIZES[1] * SIZES[2]])


def test_weights_below_the_size_keep_the_unfused_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default only weights of 2^16 elements or more are fused: a 256x256 one is, the tiny ones are not."""
    monkeypatch.undo()
    assert gemm_update_fusion.MIN_ELEMENTS == 1 << 16
    with gn.Graph("sizes") as g:
        x = gn.input("x", (None, 256))
        big = gn.param("big", (256, 256), init=np.zeros((256, 256), np.float32))
        small = gn.param("small", (256, 255), init=np.zeros((256, 255), np.float32))
        loss = gn.sum(x @ big) + gn.sum(x @ small)
    ws = [big, small]
    fn = gn.compile(g, {"loss": loss}, {w: w - 0.1 * d for w, d in zip(ws, gn.grad(loss, ws))})
    fused = [n.inputs[0].name for n in fn.graph.nodes if n.op == "gemm_update"]
    assert fused == ["big"]
    xv = RNG.standard_normal((3, 256)).astype(np.float32)
    fn(x=xv)
    want = -0.1 * np.broadcast_to(xv.sum(0)[:, None], (256, 256)).astype(np.float64)
    np.testing.assert_allclose(g.storage["big"], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g.storage["small"], want[:, :255], rtol=1e-5, atol=1e-6)


def test_weights_are_updated_in_place_by_the_gemm(gemm_path: str) -> None:
    """The plan writes the new weights into the parameters' own arrays: no copy-back, no dW buffer."""
    ps = _params()
    g, loss, vs = _mlp(ps)
    fn = gn.compile(g, {"loss": loss}, {v: v - 0.1 * d for v, d in zip(vs, gn.grad(loss, vs))})
    w0 = g.storage["p0"]
    plan = fn.plan_summary(x=np.zeros((4, SIZES[0]), np.float32), y=np.zeros(4, np.int64))
    assert not plan.copy_updates
    fn(x=RNG.standard_normal((4, SIZES[0])).astype(np.float32), y=RNG.integers(0, 3, 4))
    assert g.storage["p0"] is w0


def test_optimizer_sgd_with_a_learning_rate_state(gemm_path: str) -> None:
    """gn.optim.SGD keeps lr as state: the gemm's factor is read at run time, so set_lr takes effect."""
    ps = _params()
    g, loss, vs = _mlp(ps)
    opt = gn.optim.SGD(0.05)
    fn = gn.compile(g, {"loss": loss}, opt.updates(loss, vs))
    assert _ops(fn).count("gemm_update") == 2
    _check_steps(fn, g, ps, 0.05, 5, steps=2)
    opt.set_lr(0.2)
    _check_steps(fn, g, [g.storage[f"p{k}"].copy() for k in range(4)], 0.2, 5, steps=2)


def test_guard_keeps_the_weights_on_a_non_finite_loss(gemm_path: str) -> None:
    """gn.optim's guard, now the gemm's ok input: a NaN in the batch leaves every parameter as it was."""
    ps = _params()
    g, loss, vs = _mlp(ps)
    fn = gn.compile(g, {"loss": loss}, gn.optim.SGD(0.1).updates(loss, vs))
    assert _ops(fn).count("gemm_update") == 2
    x = RNG.standard_normal((4, SIZES[0])).astype(np.float32)
    x[1, 2] = np.nan
    before = [g.storage[f"p{k}"].copy() for k in range(4)]
    assert np.isnan(fn(x=x, y=RNG.integers(0, 3, 4))["loss"])
    for k, b in enumerate(before):
        np.testing.assert_array_equal(g.storage[f"p{k}"], b)


def test_float64(gemm_path: str) -> None:
    ps = _params("float64")
    g, loss, vs = _mlp(ps, "float64")
    fn = gn.compile(g, {"loss": loss}, {v: v - 0.3 * d for v, d in zip(vs, gn.grad(loss, vs))})
    assert _ops(fn).count("gemm_update") == 2
    _check_steps(fn, g, ps, 0.3, 4, dtype="float64")


def test_old_weight_read_after_the_update_still_sees_the_old_value(gemm_path: str) -> None:
    """An output that reads the weight is computed from the pre-update value, as without the pass."""
    ps = _params()
    g, loss, vs = _mlp(ps)
    with g:
        wsum = gn.sum(vs[2] * 2.0)
    fn = gn.compile(g, {"loss": loss, "wsum": wsum}, {v: v - 0.1 * d for v, d in zip(vs, gn.grad(loss, vs))})
    assert _ops(fn).count("gemm_update") == 2
    before = g.storage["p2"].astype(np.float64)
    out = fn(x=RNG.standard_normal((3, SIZES[0])).astype(np.float32), y=RNG.integers(0, 3, 3))
    np.testing.assert_allclose(out["wsum"], 2 * before.sum(), rtol=1e-6)
    assert not np.allclose(g.storage["p2"], before)


def test_product_read_elsewhere_is_not_fused() -> None:
    """The weight gradient as an output too: fusing would lose it, so the update stays a plain subtraction."""
    ps = _params()
    g, loss, vs = _mlp(ps)
    grads = gn.grad(loss, vs)
    fn = gn.compile(g, {"loss": loss, "dw1": grads[2]}, {v: v - 0.1 * d for v, d in zip(vs, grads)})
    assert _ops(fn).count("gemm_update") == 1
    x, y = RNG.standard_normal((4, SIZES[0])).astype(np.float32), RNG.integers(0, 3, 4)
    w1 = g.storage["p2"].copy()
    dw1 = fn(x=x, y=y)["dw1"]
    np.testing.assert_allclose(g.storage["p2"], w1 - np.float32(0.1) * dw1, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("side", ["left", "right"])
def test_product_that_reads_the_weight_is_not_fused(gemm_path: str, side: str) -> None:
    """w - lr * (w @ a): overwriting w while the product reads it would be wrong; the values say it is not."""
    w0 = RNG.standard_normal((4, 4)).astype(np.float32)
    a0 = RNG.standard_normal((4, 4)).astype(np.float32)
    with gn.Graph("self") as g:
        a = gn.input("a", (4, 4))
        w = gn.param("w", (4, 4), init=w0.copy())
        prod = w @ a if side == "left" else gn.transpose(a) @ gn.transpose(w)
    fn = gn.compile(g, {"s": gn.sum(prod)}, {w: w - 0.5 * prod})
    assert "gemm_update" not in _ops(fn)
    fn(a=a0)
    want = w0.astype(np.float64) - 0.5 * (w0 @ a0 if side == "left" else a0.T @ w0.T)
    np.testing.assert_allclose(g.storage["w"], want, rtol=1e-6, atol=1e-6)


def test_momentum_is_left_to_elementwise_fusion() -> None:
    ps = _params()
    g, loss, vs = _mlp(ps)
    fn = gn.compile(g, {"loss": loss}, gn.optim.SGD(0.1, momentum=0.9).updates(loss, vs))
    assert "gemm_update" not in _ops(fn)


def test_export_of_the_forward_is_unchanged(tmp_path: object) -> None:
    """The export pipeline does not run the pass (an exported graph has no updates); the forward exports as ever."""
    from graphnn.passes.pipeline import EXPORT

    assert "gemm_update_fusion" not in EXPORT
    ps = _params()
    g, _, vs = _mlp(ps)
    with g:
        probs = gn.softmax(gn.relu(g.value("x") @ vs[0] + vs[1]) @ vs[2] + vs[3])
    path = f"{tmp_path}/mlp.onnx"
    gn.onnx.export(g, path, outputs={"probs": probs})
    x = RNG.standard_normal((2, SIZES[0])).astype(np.float32)
    got = gn.compile(gn.onnx.load(path))(x=x)["probs"]
    want = gn.compile(g, {"probs": probs})(x=x)["probs"]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_gemm_declines_aliasing_and_reads_transposed_views() -> None:
    r = cblas.gemm_for("float32")
    if r is None:
        pytest.skip("NumPy's BLAS exports no CBLAS sgemm here")
    gemm = cblas.Gemm(r)
    a = RNG.standard_normal((5, 3)).astype(np.float32)
    b = RNG.standard_normal((5, 4)).astype(np.float32)
    c = RNG.standard_normal((3, 4)).astype(np.float32)
    want = c.astype(np.float64)
    for alpha in (-0.5, 0.25):  # the second call reuses the first's arguments with a new alpha
        want = want + alpha * (a.T.astype(np.float64) @ b)
        assert gemm(c, a.T, b, alpha, 1.0)
        np.testing.assert_allclose(c, want, rtol=1e-6, atol=1e-6)
    sq = RNG.standard_normal((4, 4)).astype(np.float32)
    assert not gemm(sq, sq, sq, 1.0, 1.0)  # out overlaps an operand: the caller's NumPy path
    strided = RNG.standard_normal((3, 10)).astype(np.float32)[:, ::2]  # no unit stride: copied, still right
    c2 = np.zeros((3, 4), np.float32)
    for _ in range(2):  # the copy is made afresh on every call, so a change to the strided operand is seen
        assert gemm(c2, strided, b, 1.0, 0.0)
        np.testing.assert_allclose(c2, strided @ b, rtol=1e-5, atol=1e-6)
        strided *= 2.0
    c3 = RNG.standard_normal((3, 4)).astype(np.float64)
    g64 = cblas.Gemm(cblas.gemm_for("float64"))
    want3 = c3 * 2.0 + (a.T.astype(np.float64) @ b)
    assert g64(c3, a.T.astype(np.float64), b.astype(np.float64), 1.0, 2.0)
    np.testing.assert_allclose(c3, want3, rtol=1e-12)


def test_guarded_updates_run_inside_the_backward() -> None:
    """gn.optim's guard is a scalar only the updates read: the schedule computes it right after the loss, so each
    fused weight update runs as soon as its gradient's operands exist (while they are in cache), not at the end."""
    from graphnn.backends.executor import schedule

    ps = _params()
    g, loss, vs = _mlp(ps)
    fn = gn.compile(g, {"loss": loss}, gn.optim.SGD(0.1).updates(loss, vs))
    order = schedule(fn.graph)
    pos = {n.name: i for i, n in enumerate(order)}
    ups = {n.inputs[0].name: pos[n.name] for n in order if n.op == "gemm_update"}
    backward = [pos[n.name] for n in order if "backward" in n.tags]
    assert ups["p2"] < ups["p0"] and ups["p2"] < max(backward)  # the last layer's step before layer 0's backward
    guard = next(n for n in order if n.outputs[0].ndim == 0 and n.outputs[0].dtype == "bool")
    assert pos[guard.name] < min(ups.values())


def test_a_guard_that_reads_another_weight_stays_before_that_weight_changes(gemm_path: str) -> None:
    """A scalar read only by updates moves early, unless it reads an updated parameter: then it keeps its place,
    and reads that parameter's old value (here a guard on w2 that w2's own step would flip)."""
    with gn.Graph("g") as g:
        a = gn.input("a", (3, 2))
        b = gn.input("b", (3, 4))
        w1 = gn.param("w1", (2, 4), init=np.zeros((2, 4), np.float32))
        w2 = gn.param("w2", (2, 4), init=np.zeros((2, 4), np.float32))
        ok = gn.sum(w2) < 0.5
        prod = gn.transpose(a) @ b
    ups = {w1: gn.where(ok, w1 - 1.0 * prod, w1), w2: w2 - 1.0 * (gn.transpose(a) @ (b * 2.0))}
    fn = gn.compile(g, {"s": gn.sum(b)}, ups)
    av, bv = np.ones((3, 2), np.float32), -np.ones((3, 4), np.float32)
    fn(a=av, b=bv)
    np.testing.assert_allclose(g.storage["w1"], -(av.T @ bv))  # the guard saw w2 = 0, not the stepped w2 = 6
    np.testing.assert_allclose(g.storage["w2"], -2.0 * (av.T @ bv))
