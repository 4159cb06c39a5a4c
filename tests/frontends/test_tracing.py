"""gn.trace and @gn.function: Python functions become static graphs; data-dependent Python control flow fails
with a TraceError at the user's line."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphnn as gn


def test_static_control_flow_is_unrolled() -> None:
    def f(x):
        for _ in range(x.shape[1]):  # a static fact: unrolled, one mul per column
            x = x * 0.5
        return x if x.ndim == 2 else -x

    g = gn.trace(f, {"x": np.ones((2, 3), "float32")})
    assert [n.op for n in g.nodes] == ["mul"] * 3 and list(g.outputs) == ["out"]
    out = gn.compile(g)(x=np.full((2, 3), 8.0, "float32"))["out"]
    np.testing.assert_array_equal(out, np.ones((2, 3)))


def test_branching_on_traced_data_names_the_line_and_suggests_where_and_cond() -> None:
    def f(x):
        y = gn.relu(x)
        if gn.sum(y) > 0:  # the offending line
            y = y * 2.0
        return y

    line = inspect.getsourcelines(f)[1] + 2
    with pytest.raises(gn.TraceError) as e:
        gn.trace(f, {"x": np.ones(3, "float32")})
    msg = str(e.value)
    assert f"test_tracing.py:{line}" in msg and "gn.where" in msg and "gn.cond" in msg and "tracing" in msg


def test_float_of_a_traced_value_is_a_trace_error() -> None:
    with pytest.raises(gn.TraceError, match=r"float\(\)"):
        gn.trace(lambda x: x * float(gn.sum(x)), {"x": np.ones(2, "float32")})


def test_outputs_are_named_and_specs_may_be_symbolic() -> None:
    g = gn.trace(lambda x, y: {"s": x + y, "p": x * y}, {"x": ((None, 4), "float32"), "y": ((4,), "float32")})
    assert set(g.outputs) == {"s", "p"} and isinstance(g.inputs[0].shape[0], str)
    g2 = gn.trace(lambda x: (gn.exp(x), 2.0 * x), [np.zeros((2,), "float64")])
    assert list(g2.outputs) == ["out0", "out1"] and g2.inputs[0].dtype == "float64"
    X = np.arange(8, dtype="float32").reshape(2, 4)
    res = gn.compile(g)(x=X, y=np.ones(4, "float32"))
    np.testing.assert_array_equal(res["s"], X + 1)


def test_traced_graph_equals_eager_run() -> None:
    rng = np.random.default_rng(0)
    W, X = rng.standard_normal((4, 3)).astype("float32"), rng.standard_normal((5, 4)).astype("float32")

    def f(x, w):
        return gn.softmax(gn.tanh(x @ w), axis=-1)

    with gn.eager():
        want = f(gn.tensor(X), gn.tensor(W)).numpy()
    got = gn.compile(gn.trace(f, {"x": X, "w": W}))(x=X, w=W)["out"]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_function_decorator_caches_per_signature() -> None:
    calls = []

    @gn.function
    def f(x, scale=1.0):
        calls.append(x.shape)
        return gn.relu(x) * scale

    a = np.array([[-1.0, 2.0]], "float32")
    np.testing.assert_array_equal(f(a), [[0.0, 2.0]])
    np.testing.assert_array_equal(f(a * 2), [[0.0, 4.0]])  # same signature: no retrace
    assert len(calls) == 1
    np.testing.assert_array_equal(f(np.ones((3, 2), "float32"), scale=3.0), np.full((3, 2), 3.0))
    assert len(calls) == 2 and len(f.cache) == 2
    assert isinstance(f.compiled(a), gn.Function)
