"""The autodiff pass: requests, expansion, accumulation, blocking, disconnected inputs, higher order,
tags and provenance; random compositions against finite differences (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.passes.autodiff import expand_gradients


def _run(g: gn.Graph, outputs: dict, **feeds: np.ndarray) -> dict:
    return gn.compile(g, outputs=outputs, validate=True)(**feeds)


# ---- accumulation and basic requests --------------------------------------------------------------------
def test_value_used_many_times_accumulates() -> None:
    x0 = np.array([0.5, -1.0, 2.0])
    with gn.Graph("acc") as g:
        x = gn.input("x", (3,), "float64")
        y = gn.sum(x * x * x + x + x + gn.tanh(x))
        gx = gn.grad(y, x)
    out = _run(g, {"gx": gx}, x=x0)
    np.testing.assert_allclose(out["gx"], 3 * x0**2 + 2 + (1 - np.tanh(x0) ** 2), rtol=1e-12)


def test_many_wrt_and_params() -> None:
    rng = np.random.default_rng(0)
    w0, b0, x0 = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((4, 3))
    with gn.Graph("lin") as g:
        x = gn.input("x", (None, 3), "float64")
        w = gn.param("w", (3, 2), "float64", init=w0)
        b = gn.param("b", (2,), "float64", init=b0)
        y = gn.mean((x @ w + b) ** 2)
        gw, gb, gx = gn.grad(y, [w, b, x])
    out = _run(g, {"gw": gw, "gb": gb, "gx": gx}, x=x0)
    r = x0 @ w0 + b0
    np.testing.assert_allclose(out["gw"], x0.T @ (2 * r) / r.size, rtol=1e-12)
    np.testing.assert_allclose(out["gb"], (2 * r).sum(0) / r.size, rtol=1e-12)
    np.testing.assert_allclose(out["gx"], (2 * r) @ w0.T / r.size, rtol=1e-12)
    gn.check_grad(y, feeds={"x": x0}, tol=1e-6)  # graph form: every float input and param


def test_grad_of_value_with_respect_to_itself_is_one() -> None:
    with gn.Graph("self") as g:
        x = gn.input("x", (2,), "float64")
        y = gn.sum(x)
        gy, gx = gn.grad(y, [y, x])
    out = _run(g, {"gy": gy, "gx": gx}, x=np.array([1.0, 2.0]))
    assert float(out["gy"]) == 1.0
    np.testing.assert_array_equal(out["gx"], [1.0, 1.0])


def test_grad_of_non_scalar_or_int_is_error() -> None:
    with gn.Graph("bad"):
        x = gn.input("x", (3,), "float64")
        with pytest.raises(gn.GraphError, match="scalar"):
            gn.grad(x * 2, x)
        with pytest.raises(gn.GraphError, match="disconnected must be"):
            gn.grad(gn.sum(x), x, disconnected="maybe")


# ---- non-differentiable inputs and ops -------------------------------------------------------------------
def test_int_inputs_argmax_one_hot_are_errors() -> None:
    with gn.Graph("labels"):
        logits = gn.input("logits", (4, 3), "float64")
        y = gn.input("y", (4,), "int64")
        loss = gn.cross_entropy(gn.softmax(logits), y)
        with pytest.raises(gn.GraphError, match="with respect to y: it is int64"):
            gn.grad(loss, y)
        am = gn.argmax(logits)
        with pytest.raises(gn.GraphError, match="argmax"):
            gn.grad(loss, am)
        # A loss that reaches the logits only through argmax/one_hot is cut off, and the error says where.
        cut = gn.sum(gn.one_hot(gn.argmax(logits), 3) * 2.0)
        with pytest.raises(gn.GraphError, match="logits.*argmax"):
            gn.grad(cut, logits)
        assert gn.grad(loss, logits) is not None  # the labels do not block the logits


def test_stop_gradient_blocks() -> None:
    x0 = np.array([1.0, 2.0])
    with gn.Graph("sg") as g:
        x = gn.input("x", (2,), "float64")
        y = gn.sum(gn.stop_gradient(x) * x)  # d/dx = stop_gradient(x) = x, not 2x
        gx = gn.grad(y, x)
    np.testing.assert_allclose(_run(g, {"gx": gx}, x=x0)["gx"], x0)


def test_disconnected_raise_zeros_ignore() -> None:
    with gn.Graph("dis") as g:
        x = gn.input("x", (2,), "float64")
        w = gn.param("w_unused", (3,), "float64", init=np.ones(3))
        frozen = gn.param("frozen", (2,), "float64", init=np.ones(2))
        y = gn.sum(x * gn.stop_gradient(frozen))
        with pytest.raises(gn.GraphError, match="w_unused") as e:
            gn.grad(y, [x, w])
        assert "does not use it" in str(e.value)
        with pytest.raises(gn.GraphError, match="frozen.*stop_gradient"):
            gn.grad(y, frozen)
        gx, gw = gn.grad(y, [x, w], disconnected="zeros")
        gx2, none = gn.grad(y, [x, w], disconnected="ignore")
    assert none is None
    out = _run(g, {"gx": gx, "gw": gw, "gx2": gx2}, x=np.array([3.0, 4.0]))
    np.testing.assert_array_equal(out["gw"], np.zeros(3))
    np.testing.assert_array_equal(out["gx"], np.ones(2))
    np.testing.assert_array_equal(out["gx2"], np.ones(2))


# ---- higher order --------------------------------------------------------------------------------------
CLOSED_FORMS = {
    "tanh": (gn.tanh, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), np.linspace(-2, 2, 7)),
    "sigmoid": (gn.sigmoid, lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s), np.linspace(-3, 3, 7)),
    "exp": (gn.exp, np.exp, np.linspace(-2, 2, 7)),
    "log": (gn.log, lambda x: -1 / x**2, np.linspace(0.3, 3, 7)),
}


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_second_derivative_closed_forms(name: str) -> None:
    f, d2, x0 = CLOSED_FORMS[name]
    with gn.Graph("d2") as g:
        x = gn.input("x", (7,), "float64")
        dx = gn.grad(gn.sum(f(x)), x)
        d2x = gn.grad(gn.sum(dx), x)  # f is elementwise, so this is f''(x) elementwise
    np.testing.assert_allclose(_run(g, {"d2": d2x}, x=x0)["d2"], d2(x0), rtol=1e-12, atol=1e-14)


def test_hessian_vector_product() -> None:
    # f(x) = sum(softplus(W x)) + 0.5 x.x: H = W^T diag(s (1 - s)) W + I with s = sigmoid(W x).
    rng = np.random.default_rng(3)
    w0, x0, v0 = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3)
    with gn.Graph("hvp") as g:
        x = gn.input("x", (3,), "float64")
        v = gn.input("v", (3,), "float64")
        w = gn.constant(w0)
        f = gn.sum(gn.softplus(w @ x)) + 0.5 * gn.sum(x * x)
        gx = gn.grad(f, x)
        hv = gn.grad(gn.sum(gx * v), x)
    s = 1 / (1 + np.exp(-(w0 @ x0)))
    hess = w0.T @ np.diag(s * (1 - s)) @ w0 + np.eye(3)
    np.testing.assert_allclose(_run(g, {"hv": hv}, x=x0, v=v0)["hv"], hess @ v0, rtol=1e-12)


def test_request_depending_on_unexpanded_request() -> None:
    # The inner request is still a `grad` node when the outer one is made; expansion goes inner first.
    x0 = np.array([0.3, -0.7])
    with gn.Graph("nested") as g:
        x = gn.input("x", (2,), "float64")
        gx = gn.grad(gn.sum(x**3), x)  # 3x^2
        penalty = gn.sum(gx * gx)  # 9 x^4
        outer = gn.grad(penalty, x)  # 36 x^3
        third = gn.grad(gn.sum(outer), x)  # 108 x^2
    assert sum(n.op == "grad" for n in g.nodes) == 3
    out = _run(g, {"outer": outer, "third": third}, x=x0)
    np.testing.assert_allclose(out["outer"], 36 * x0**3, rtol=1e-12)
    np.testing.assert_allclose(out["third"], 108 * x0**2, rtol=1e-12)


def test_expand_now_keeps_earlier_handles_valid() -> None:
    x0 = np.array([1.5])
    with gn.Graph("now") as g:
        x = gn.input("x", (1,), "float64")
        gx = gn.grad(gn.sum(gn.exp(2 * x)), x)  # pending
        h = gn.grad(gn.sum(gx), x, expand=True)  # expands gx's request too
    assert not any(n.op == "grad" for n in g.nodes)
    assert "[backward]" in str(g)
    gn.verify(g)
    out = _run(g, {"gx": gx, "h": h}, x=x0)
    np.testing.assert_allclose(out["gx"], 2 * np.exp(3.0), rtol=1e-12)
    np.testing.assert_allclose(out["h"], 4 * np.exp(3.0), rtol=1e-12)


# ---- tags, provenance, printing ----------------------------------------------------------------------------
def test_backward_nodes_tagged_with_forward_provenance() -> None:
    with gn.Graph("tags") as g:
        x = gn.input("x", (2, 3), "float64")
        w = gn.param("w", (3, 1), "float64", init=np.ones((3, 1)))
        h = gn.tanh(x @ w)
        loss = gn.mean(h * h)
        gw = gn.grad(loss, w)
    forward = {n.id: n for n in g.nodes if n.op != "grad"}
    fn = gn.compile(g, outputs={"gw": gw}, validate=True)
    backward = [n for n in fn.graph.nodes if n.id not in forward]
    assert backward and all("backward" in n.tags for n in backward)
    assert not any("backward" in n.tags for n in fn.graph.nodes if n.id in forward)
    for n in backward:
        src = n.prov.derived_from
        assert src, f"{n.name} has no provenance"
        for fid in src:
            if fid in forward:  # derived from a forward node: it carries that node's user line
                assert n.prov.locations == forward[fid].prov.locations
    tanh_id = next(i for i, n in forward.items() if n.op == "tanh")
    assert any(tanh_id in n.prov.derived_from for n in backward)
    text = str(fn.graph)
    assert "[backward]" in text and "test_autodiff.py" in text
    # The user's graph is untouched by compile; expand_gradients on a copy shows the same nodes.
    assert any(n.op == "grad" for n in g.nodes)
    assert "[backward]" in str(expand_gradients(g.copy()))


# ---- random compositions (hypothesis) ----------------------------------------------------------------------
UNARY = [gn.tanh, gn.sigmoid, gn.softplus, lambda v: v * v, lambda v: -v, lambda v: gn.exp(gn.tanh(v)),
         lambda v: gn.sqrt(v * v + 1.0), lambda v: gn.softmax(v, axis=-1), lambda v: gn.log_softmax(v, axis=0)]
BINARY = [gn.add, gn.sub, gn.mul, lambda a, b: a / (gn.sigmoid(b) + 0.5), lambda a, b: a * gn.tanh(b)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 100), st.integers(0, 100)), min_size=1, max_size=7),
       st.integers(0, 2**31 - 1))
def test_random_compositions_match_finite_differences(steps: list, seed: int) -> None:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((2, 3)), rng.standard_normal((3,)), rng.standard_normal((2, 1))]

    def build(*xs: gn.Value) -> gn.Value:
        vals = list(xs)
        for kind, i, j in steps:
            a, b = vals[i % len(vals)], vals[j % len(vals)]
            if kind == 0:
                vals.append(UNARY[j % len(UNARY)](a))
            elif kind == 1:
                vals.append(BINARY[j % len(BINARY)](a, b))  # broadcasting, and values reused
            else:
                red = gn.sum(a, axis=-1, keepdims=True) if a.ndim else a
                vals.append(red * b)
        return gn.sum(gn.add(vals[-1], vals[len(vals) // 2]))

    gn.check_grad(build, *arrays, disconnected="zeros", tol=1e-6)


def test_symbolic_batch_mean_counts_at_call_time() -> None:
    # mean over a symbolic dim: the 1/N in the gradient is computed from the fed batch, not fixed at build time.
    with gn.Graph("sym") as g:
        x = gn.input("x", ("batch", 3), "float64")
        y = gn.input("y", ("batch",), "int64")
        w = gn.param("w", (3, 4), "float64", init=np.linspace(-1, 1, 12).reshape(3, 4))
        loss = gn.cross_entropy(gn.softmax(x @ w), y) + gn.mean(x * x)
        gw, gx = gn.grad(loss, [w, x])
    fn = gn.compile(g, outputs={"gw": gw, "gx": gx})
    rng = np.random.default_rng(0)
    for n in (2, 5):
        x0, y0 = rng.standard_normal((n, 3)), rng.integers(0, 4, n)
        out = fn(x=x0, y=y0)
        p = np.exp(x0 @ g.storage["w"])
        p /= p.sum(1, keepdims=True)
        d = (p - np.eye(4)[y0]) / n
        np.testing.assert_allclose(out["gw"], x0.T @ d, rtol=1e-12)
        np.testing.assert_allclose(out["gx"], d @ g.storage["w"].T + 2 * x0 / x0.size, rtol=1e-12)
