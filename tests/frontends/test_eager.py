"""Eager mode: same ops, same type rules and kernels as the static path; gradients by the recorded tape."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.frontends.eager import current_tape


def _mlp_np(x: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    h = np.maximum(x @ w1, 0)
    z = h @ w2
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _data(dtype: str = "float32") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal((4, 6)).astype(dtype),
            rng.standard_normal((6, 3)).astype(dtype))


def test_ops_run_at_once_and_match_numpy_and_static_path() -> None:
    X, W1, W2 = _data()
    with gn.eager():
        x = gn.tensor(X)
        p = gn.softmax(gn.relu(x @ gn.tensor(W1)) @ gn.tensor(W2))
        s = gn.sum(p, axis=-1)
    assert isinstance(p, gn.EagerTensor) and p.shape == (5, 3) and p.dtype == "float32"
    np.testing.assert_allclose(p.numpy(), _mlp_np(X, W1, W2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.numpy(), np.ones(5), rtol=1e-5)
    with gn.Graph() as g:
        xs = gn.input("x", (None, 4))
        ps = gn.softmax(gn.relu(xs @ gn.constant(W1)) @ gn.constant(W2))
    np.testing.assert_array_equal(gn.compile(g, outputs={"p": ps})(x=X)["p"], p.numpy())


def test_type_errors_are_the_static_ones() -> None:
    msgs = []
    for mode in ("static", "eager"):
        with pytest.raises(gn.DTypeError) as e:
            if mode == "eager":
                with gn.eager():
                    gn.tensor(np.ones(3, "float32")) + gn.tensor(np.ones(3, "float64"))
            else:
                with gn.Graph():
                    gn.input("a", (3,), "float32") + gn.input("b", (3,), "float64")
        msgs.append(str(e.value).splitlines()[0])
    assert msgs[0] == msgs[1] and "float32 vs float64" in msgs[0]
    with gn.eager(), pytest.raises(gn.ShapeError, match="cannot broadcast"):
        gn.tensor(np.ones((2, 3))) + gn.tensor(np.ones((4,)))


def test_python_control_flow_on_data_and_numpy_interop() -> None:
    with gn.eager():
        t = gn.tensor([1.0, -2.0, 3.0])
        assert t.dtype == "float32"  # Python floats are float32, as gn.constant makes them
        y = t * 2 if gn.sum(t) > 0 else -t
        r = np.array([[1.0, 0.0, 0.0]], "float32") @ gn.reshape(t, (3, 1))  # ndarray on the left defers to us
    np.testing.assert_array_equal(y.numpy(), [2.0, -4.0, 6.0])
    assert isinstance(r, gn.EagerTensor) and float(r.numpy()[0, 0]) == 1.0
    assert float(gn.max(t)) == 3.0 and np.asarray(t).shape == (3,)


def _fd(f, arrays: list[np.ndarray], i: int, eps: float = 1e-6) -> np.ndarray:
    a = arrays[i]
    out = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + eps
        hi = f(*arrays)
        a[idx] = old - eps
        lo = f(*arrays)
        a[idx] = old
        out[idx] = (hi - lo) / (2 * eps)
    return out


def test_grad_by_tape_matches_finite_differences_and_static_grad() -> None:
    X, W1, W2 = (a.astype("float64") for a in _data())
    Y = np.array([0, 2, 1, 1, 0])

    def loss_np(w1: np.ndarray, w2: np.ndarray) -> float:
        p = _mlp_np(X, w1, w2)
        return float(-np.log(p[np.arange(5), Y]).mean())

    with gn.eager():
        w1, w2 = gn.tensor(W1), gn.tensor(W2)
        loss = gn.cross_entropy(gn.softmax(gn.relu(gn.tensor(X) @ w1) @ w2), gn.tensor(Y))
        g1, g2 = gn.grad(loss, [w1, w2])
    assert abs(float(loss) - loss_np(W1, W2)) < 1e-12
    np.testing.assert_allclose(g1.numpy(), _fd(loss_np, [W1.copy(), W2.copy()], 0), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(g2.numpy(), _fd(loss_np, [W1.copy(), W2.copy()], 1), rtol=1e-5, atol=1e-8)
    with gn.Graph() as g:
        x, y = gn.input("x", (None, 4), "float64"), gn.input("y", (None,), "int64")
        a = gn.param("w1", (4, 6), "float64", init=W1)
        b = gn.param("w2", (6, 3), "float64", init=W2)
        sl = gn.cross_entropy(gn.softmax(gn.relu(x @ a) @ b), y)
        sg = gn.grad(sl, [a, b])
    out = gn.compile(g, outputs={"g1": sg[0], "g2": sg[1]})(x=X, y=Y)
    np.testing.assert_allclose(out["g1"], g1.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["g2"], g2.numpy(), rtol=1e-10, atol=1e-12)


def test_second_order_gradient_on_the_tape() -> None:
    with gn.eager():
        x = gn.tensor(np.array([0.3, -1.2, 2.0]))
        y = gn.sum(x ** 3)
        (dx,) = gn.grad(y, [x])
        d2 = gn.grad(gn.sum(dx), x)
    np.testing.assert_allclose(dx.numpy(), 3 * np.array([0.3, -1.2, 2.0]) ** 2, rtol=1e-12)
    np.testing.assert_allclose(d2.numpy(), 6 * np.array([0.3, -1.2, 2.0]), rtol=1e-12)


def test_param_in_eager_is_a_real_array_and_assign_updates_in_place() -> None:
    with gn.eager():
        w = gn.param("w", (2, 2), init=np.eye(2, dtype="float32"))
        assert isinstance(w, gn.EagerTensor) and w.kind == "param"
        loss = gn.sum((gn.tensor(np.ones((1, 2), "float32")) @ w) ** 2)
        (gw,) = gn.grad(loss, [w])
        arr = w.numpy()
        w.assign(w - 0.1 * gw)
    assert w.numpy() is arr  # updated in place, not rebound
    np.testing.assert_allclose(arr, np.eye(2) - 0.1 * 2 * np.ones((2, 2)) * np.eye(2).sum(0), rtol=1e-6)


def test_kernel_errors_match_static_path() -> None:
    with gn.eager(), pytest.raises(gn.FeedError, match="labels must lie in"):
        gn.cross_entropy(gn.softmax(gn.tensor(np.zeros((2, 3), "float32"))), gn.tensor(np.array([0, 5])))


def test_tape_is_swept_in_a_long_loop() -> None:
    tape = current_tape()
    with gn.eager():
        w = gn.tensor(np.ones(4, "float32"))
        for _ in range(1500):
            loss = gn.sum(gn.tanh(w * 0.5) * w)
            (gw,) = gn.grad(loss, [w])
            w.assign(w - 0.01 * gw)
    assert len(tape.nodes) < 3000 and len(tape.data) < 3000


def test_eager_params_become_shared_params_when_traced() -> None:
    with gn.eager():
        w = gn.param("w", (3,), init=np.ones(3, "float32"))
    g = gn.trace(lambda x: gn.sum(x * w), {"x": np.ones(3, "float32")})
    assert [p.name for p in g.params] == ["w"]
    loss = g.outputs["out"]
    with g:
        (gw,) = gn.grad(loss, [w])  # the eager tensor names the graph parameter it became
    step = gn.compile(g, outputs={"loss": loss}, updates={"w": g.params[0] - 0.5 * gw})
    step(x=np.array([1.0, 2.0, 3.0], "float32"))
    np.testing.assert_allclose(w.numpy(), [0.5, 0.0, -0.5])  # the compiled update wrote the eager array


def test_nn_layers_run_eagerly_and_trace_with_shared_params() -> None:
    nn = gn.nn
    X = np.random.default_rng(1).standard_normal((4, 3)).astype("float32")
    with gn.eager():
        net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
        y = net(gn.tensor(X))
    assert isinstance(y, gn.EagerTensor) and y.shape == (4, 2)
    assert all(isinstance(p, gn.EagerTensor) and p.kind == "param" for p in net.params)
    w1, b1, w2, b2 = (p.numpy() for p in net.params)
    np.testing.assert_allclose(y.numpy(), np.maximum(X @ w1 + b1, 0) @ w2 + b2, rtol=1e-5, atol=1e-6)
    g = gn.trace(lambda x: net(x), {"x": X})  # the same layer objects, now traced into a static graph
    assert [p.name for p in g.params] == [p.name for p in net.params]
    assert all(g.storage[p.name] is e.numpy() for p, e in zip(g.params, net.params))  # shared, not copied
    np.testing.assert_allclose(gn.compile(g)(x=X)["out"], y.numpy(), rtol=1e-6)
