"""gn.cond: both branches traced into subgraphs; the taken one runs; gradients flow through it only."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest

import graphnn as gn
from graphnn.ir import serialize


def _build(dtype: str = "float64"):
    rng = np.random.default_rng(3)
    W = rng.standard_normal((3, 2)).astype(dtype)
    V = rng.standard_normal((2,)).astype(dtype)
    with gn.Graph("c") as g:
        x = gn.input("x", (None, 3), dtype)
        w = gn.param("w", (3, 2), dtype, init=W)
        v = gn.param("v", (2,), dtype, init=V)
        h = gn.tanh(x @ w)
        # true branch closes over v (a capture), false branch does not use it
        out = gn.cond(gn.sum(h) > 0, lambda a: a * v * 2.0, lambda a: a - 1.0, h)
        loss = gn.sum(out * out)
        gw, gv = gn.grad(loss, [w, v])
    return g, loss, gw, gv, W, V


def _loss_np(X, W, V):
    h = np.tanh(X @ W)
    out = h * V * 2.0 if h.sum() > 0 else h - 1.0
    return float((out * out).sum())


def _fd(f, a, eps=1e-6):
    out = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + eps
        hi = f()
        a[idx] = old - eps
        lo = f()
        a[idx] = old
        out[idx] = (hi - lo) / (2 * eps)
    return out


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_forward_and_gradient_follow_the_taken_branch(sign: float) -> None:
    g, loss, gw, gv, W, V = _build()
    fn = gn.compile(g, outputs={"loss": loss, "gw": gw, "gv": gv})
    X = sign * np.abs(np.random.default_rng(4).standard_normal((4, 3))) * np.sign(W.sum(1))
    assert (np.tanh(X @ W).sum() > 0) == (sign > 0)
    res = fn(x=X)
    assert abs(res["loss"] - _loss_np(X, W, V)) < 1e-10
    W2, V2 = W.copy(), V.copy()
    np.testing.assert_allclose(res["gw"], _fd(lambda: _loss_np(X, W2, V2), W2), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res["gv"], _fd(lambda: _loss_np(X, W2, V2), V2), rtol=1e-6, atol=1e-8)
    if sign < 0:  # v is used only by the branch not taken: its gradient is exactly zero
        assert not res["gv"].any()


def test_cond_node_survives_copy_json_round_trip_and_verify() -> None:
    g, loss, *_ = _build()
    X = np.random.default_rng(5).standard_normal((2, 3))
    want = gn.compile(g, outputs={"loss": loss})(x=X)["loss"]
    for h in (g.copy(), serialize.from_json(serialize.to_json(g))):
        gn.verify(h)
        assert abs(gn.compile(h, outputs={"loss": h.value(loss.name)})(x=X)["loss"] - want) < 1e-12
    node = next(n for n in g.nodes if n.op == "cond")
    assert node.attrs["then_nodes"] == 2 and node.attrs["else_nodes"] == 1
    assert "cond(" in str(g) and "subgraph" not in str(g)  # printed readably, JSON text left out


def test_branches_must_agree() -> None:
    with gn.Graph():
        x = gn.input("x", (3,))
        with pytest.raises(gn.ShapeError, match="same types"):
            gn.cond(gn.sum(x) > 0, lambda a: a, lambda a: gn.sum(a), x)
        with pytest.raises(gn.DTypeError, match="bool scalar"):
            gn.cond(x > 0, lambda a: a, lambda a: -a, x)


def test_multiple_outputs_nested_cond_and_outer_captures() -> None:
    with gn.Graph() as g:
        x = gn.input("x", (2,), "float64")
        k = gn.input("k", (), "float64")

        def outer(a):
            inner = gn.cond(k > 0, lambda b: b * k, lambda b: b + k, a)  # k captured two levels deep
            return inner, gn.sum(inner)

        y, s = gn.cond(gn.sum(x) > 0, outer, lambda a: (a * 0.0, gn.sum(a)), x)
        g.output("y", y)
        g.output("s", s)
    fn = gn.compile(g)
    for X, K in [([1.0, 2.0], 3.0), ([1.0, 2.0], -3.0), ([-1.0, -2.0], 3.0)]:
        X = np.array(X)
        inner = X * K if K > 0 else X + K
        want = inner if X.sum() > 0 else X * 0.0
        res = fn(x=X, k=np.float64(K))
        np.testing.assert_allclose(res["y"], want)
        assert abs(res["s"] - (want.sum() if X.sum() > 0 else X.sum())) < 1e-12


def test_python_and_eager_predicates_branch_at_once() -> None:
    assert gn.cond(True, lambda a: a + 1, lambda a: a - 1, 1) == 2
    with gn.eager():
        t = gn.tensor(np.array([1.0, -3.0]))
        y = gn.cond(gn.sum(t) > 0, lambda a: a * 2.0, lambda a: -a, t)
        (dt,) = gn.grad(gn.sum(y), [t])
    np.testing.assert_array_equal(y.numpy(), [-1.0, 3.0])
    np.testing.assert_array_equal(dt.numpy(), [-1.0, -1.0])


def test_traced_function_with_cond_matches_eager_python_if() -> None:
    W = np.random.default_rng(6).standard_normal((3, 3)).astype("float32")

    def eager_f(x):
        y = x @ gn.tensor(W)
        return y * 2.0 if gn.sum(y) > 0 else y

    def static_f(x):
        y = x @ W
        return gn.cond(gn.sum(y) > 0, lambda a: a * 2.0, lambda a: a, y)

    fn = gn.compile(gn.trace(static_f, {"x": ((None, 3), "float32")}))
    for s in (1.0, -1.0):
        X = (s * np.ones((2, 3)) @ np.linalg.pinv(W)).astype("float32")
        with gn.eager():
            want = eager_f(gn.tensor(X)).numpy()
        np.testing.assert_allclose(fn(x=X)["out"], want, rtol=1e-5)


def test_traced_cond_exports_to_onnx_if_and_matches_onnxruntime(tmp_path) -> None:

    def f(x):
        y = x * 3.0
        return gn.cond(gn.sum(y) > 0, lambda a: gn.tanh(a) * 2.0, lambda a: a - 1.0, y)

    g = gn.trace(f, {"x": ((None, 3), "float32")})
    gn.onnx.export(g, str(tmp_path / "c.onnx"))
    sess = onnxruntime.InferenceSession(str(tmp_path / "c.onnx"))
    assert any(n.op_type == "If" for n in onnx.load(str(tmp_path / "c.onnx")).graph.node)
    for s in (1.0, -1.0):
        X = (s * np.abs(np.random.default_rng(7).standard_normal((2, 3)))).astype("float32")
        want = np.tanh(3 * X) * 2 if X.sum() > 0 else 3 * X - 1
        np.testing.assert_allclose(sess.run(None, {"x": X})[0], want, rtol=1e-5, atol=1e-6)


def test_second_derivative_through_cond() -> None:
    with gn.Graph() as g:
        x = gn.input("x", (3,), "float64")
        y = gn.sum(gn.cond(gn.sum(x) > 0, lambda a: a * a * a, lambda a: a * a, x))
        (dx,) = gn.grad(y, [x])
        d2 = gn.grad(gn.sum(dx), x)
    fn = gn.compile(g, outputs={"dx": dx, "d2": d2})
    X = np.array([0.5, 1.0, 2.0])
    res = fn(x=X)
    np.testing.assert_allclose(res["dx"], 3 * X ** 2)
    np.testing.assert_allclose(res["d2"], 6 * X)
    res = fn(x=-X)
    np.testing.assert_allclose(res["dx"], -2 * X)
    np.testing.assert_allclose(res["d2"], np.full(3, 2.0))
