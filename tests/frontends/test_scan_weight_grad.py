"""A recurrent weight's gradient leaves the backward loop: for a capture used only as `h @ W` in the body, the
backward scan emits the step factors and one 2-D product over the stacked steps follows it (no per-step
product and accumulation). Gradients against a NumPy BPTT loop and float64 finite differences (first and second
order), with the hoisted and the ordinary accumulation side by side; dead nodes leave traced bodies."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir import subgraph
from graphnn.passes.autodiff import expand_gradients

RNG = np.random.default_rng(3)


def _np_rnn_grads(X: np.ndarray, W: np.ndarray, h0: np.ndarray, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """loss = sum of all h_t²; h_t = tanh(x_t + h_{t-1} W); returns (dL/dW, dL/dX) by a plain BPTT loop."""
    order = list(range(len(X)))[::-1] if reverse else list(range(len(X)))
    hs, h = {}, h0
    prev = {}
    for t in order:
        prev[t] = h
        h = np.tanh(X[t] + h @ W)
        hs[t] = h
    dW, dX, dh = np.zeros_like(W), np.zeros_like(X), np.zeros_like(h0)
    for t in reversed(order):
        dh = dh + 2 * hs[t]
        dz = dh * (1 - hs[t] ** 2)
        dW += prev[t].T @ dz
        dX[t] = dz
        dh = dz @ W.T
    return dW, dX


def _scan_bodies(g: gn.Graph) -> list[list[str]]:
    return [[m.op for m in subgraph.decode(n.attrs["body"]).nodes] for n in g.nodes if n.op == "scan"]


@pytest.mark.parametrize("reverse", [False, True])
def test_weight_gradient_matches_a_numpy_bptt_loop(reverse: bool) -> None:
    with gn.Graph("r") as g:
        xs = gn.input("xs", (None, 4, 3), "float64")
        w = gn.input("w", (3, 3), "float64")
        h0 = gn.input("h0", (4, 3), "float64")
        def cell(h: gn.Value, x: gn.Value) -> tuple:
            h2 = gn.tanh(x + h @ w)
            return h2, h2

        _, ys = gn.scan(cell, h0, xs, reverse=reverse)
        gw, gx = gn.grad(gn.sum(ys * ys), [w, xs])
    e = expand_gradients(g.copy())
    bodies = _scan_bodies(e)
    assert len(bodies) >= 2 and bodies[-1].count("matmul") == 1  # only dh = dz Wᵀ stays in the backward step
    outside = [n for n in e.nodes if n.op == "matmul" and tuple(n.outputs[0].shape) == (3, 3)]
    assert outside, "the weight gradient is one product after the loop"
    fn = gn.compile(g, outputs={"gw": gw, "gx": gx})
    W, H = RNG.standard_normal((3, 3)) * 0.5, RNG.standard_normal((4, 3))
    for T in (1, 5):
        X = RNG.standard_normal((T, 4, 3))
        out = fn(xs=X, w=W, h0=H)
        want_w, want_x = _np_rnn_grads(X, W, H, reverse)
        np.testing.assert_allclose(out["gw"], want_w, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(out["gx"], want_x, rtol=1e-11, atol=1e-12)


def _two_weights(xs: gn.Value, w: gn.Value, v: gn.Value, h0: gn.Value) -> gn.Value:
    # w is hoisted (one use, as h @ w); v is used twice (accumulated in the loop as before)
    def cell(h: gn.Value, x: gn.Value) -> tuple:
        h2 = gn.tanh(x + h @ w + (h * h) @ v + h @ v)
        return h2, h2

    return gn.sum(gn.scan(cell, h0, xs)[1] ** 2)


def test_first_and_second_order_by_finite_differences() -> None:
    X, W, V, H = (RNG.standard_normal((4, 2, 3)), RNG.standard_normal((3, 3)) * 0.4,
                  RNG.standard_normal((3, 3)) * 0.4, RNG.standard_normal((2, 3)))
    gn.check_grad(_two_weights, X, W, V, H, tol=1e-6)

    def grad_norm(xs: gn.Value, w: gn.Value, v: gn.Value, h0: gn.Value) -> gn.Value:
        gw, gv = gn.grad(_two_weights(xs, w, v, h0), [w, v])
        return gn.sum(gw * gw) + gn.sum(gv * gv)

    gn.check_grad(grad_norm, X, W, V, H, tol=1e-5)


def test_lstm_layer_gradients_match_a_float64_reference_after_the_hoist() -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is the independent reference here (pip install torch==2.13.0)")
    x = RNG.standard_normal((3, 6, 4))
    with gn.Graph("l") as g:
        xi = gn.input("x", (None, 6, 4), "float64")
        lstm = gn.nn.LSTM(4, 5)
        out, _ = lstm(xi)
        grads = gn.grad(gn.sum(out * out), lstm.params)
    res = gn.compile(g, outputs={p.name: gv for p, gv in zip(lstm.params, grads)})(x=x)
    ref = torch.nn.LSTM(4, 5, batch_first=True).double()
    with torch.no_grad():
        for p in lstm.params:
            getattr(ref, p.name.rsplit("/", 1)[1]).copy_(torch.from_numpy(g.storage[p.name].astype(np.float64)))
    y, _ = ref(torch.from_numpy(x))
    (y * y).sum().backward()
    for p in lstm.params:
        want = getattr(ref, p.name.rsplit("/", 1)[1]).grad.numpy()
        np.testing.assert_allclose(res[p.name], want, rtol=1e-10, atol=1e-12, err_msg=p.name)


def test_dead_nodes_leave_a_traced_body() -> None:
    with gn.Graph("d") as g:
        xs = gn.input("xs", (None, 3))

        def body(c: gn.Value, x: gn.Value) -> tuple:
            gn.exp(x) * 3.0  # computed, never used
            return c + x, c

        _, ys = gn.scan(body, gn.zeros((3,)) if hasattr(gn, "zeros") else xs[0] * 0.0, xs)
    assert _scan_bodies(g)[0] == ["add"]
    X = RNG.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(gn.compile(g, outputs={"ys": ys})(xs=X)["ys"],
                               np.concatenate([np.zeros((1, 3)), np.cumsum(X, 0)[:-1]]), rtol=1e-6)
