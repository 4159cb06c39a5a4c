"""Python and NumPy protocols on graph values: NumPy operands, iteration, len, abs, identity equality."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

HERE = "test_value_protocols.py"


def test_ndarray_on_the_left_is_one_op_with_a_constant() -> None:
    with gn.Graph("np") as g:
        x = gn.input("x", (None, 3))
        b = np.array([1.0, 2.0, 3.0], "float32")
        y = b + x
        z = np.float32(2) * x
    assert isinstance(y, gn.Value) and isinstance(z, gn.Value)
    assert [n.op for n in g.nodes] == ["add", "mul"]
    X = np.arange(6, dtype="float32").reshape(2, 3)
    out = gn.compile(g, outputs={"y": y, "z": z})(x=X)
    np.testing.assert_array_equal(out["y"], b + X)
    np.testing.assert_array_equal(out["z"], 2 * X)


def test_numpy_ufuncs_on_graph_values_are_the_graph_ops() -> None:
    with gn.Graph("ufuncs") as g:
        x = gn.input("x", (None, 3))
        outs = {"exp": np.exp(x), "relu": np.maximum(x, np.float32(0)), "tanh": np.tanh(x),
                "gt": np.array([0.0, 1.0, 2.0], "float32") > x}
    assert [n.op for n in g.nodes] == ["exp", "maximum", "tanh", "greater"]
    X = np.array([[-1.0, 0.5, 3.0]], "float32")
    out = gn.compile(g, outputs=outs)(x=X)
    np.testing.assert_allclose(out["exp"], np.exp(X), rtol=1e-6)
    np.testing.assert_array_equal(out["relu"], np.maximum(X, 0))
    np.testing.assert_allclose(out["tanh"], np.tanh(X), rtol=1e-6)
    np.testing.assert_array_equal(out["gt"], np.array([0.0, 1.0, 2.0], "float32") > X)


@pytest.mark.parametrize("fn", [np.sum, np.mean, np.asarray, lambda v: np.concatenate([v, v]), np.add.reduce,
                                lambda v: np.exp(v, dtype="float64"), np.logaddexp])
def test_numpy_functions_on_graph_values_say_what_to_use(fn) -> None:
    with gn.Graph("np"):
        x = gn.input("x", (2, 3))
        with pytest.raises(gn.TraceError, match=f"{HERE}:.*Use gn.sum/gn.mean"):
            fn(x) if fn is not np.logaddexp else fn(x, x)


def test_numpy_function_while_tracing_is_a_trace_error() -> None:
    def k(x):
        return x * np.sum(x)

    with pytest.raises(gn.TraceError, match="while tracing .*k, .*test_value_protocols.py:52"):
        gn.trace(k, (np.ones((2, 3), "float32"),))


def test_eager_tensors_still_work_with_numpy() -> None:
    with gn.eager():
        a = gn.tensor(np.array([1.0, -2.0, 3.0], "float32"))
        assert np.sum(a) == 2.0 and np.mean(a) == pytest.approx(2 / 3)
        np.testing.assert_array_equal(np.asarray(a), [1.0, -2.0, 3.0])
        r = np.ones(3, "float32") + a
        np.testing.assert_array_equal(r.numpy(), [2.0, -1.0, 4.0])
        assert [float(t) for t in a] == [1.0, -2.0, 3.0] and len(a) == 3
        np.testing.assert_array_equal(abs(a).numpy(), [1.0, 2.0, 3.0])


def test_iterating_a_concrete_leading_axis_yields_rows() -> None:
    with gn.Graph("it") as g:
        x = gn.input("x", (3, 2))
        a, b, c = x
        assert len(x) == 3
    X = np.arange(6, dtype="float32").reshape(3, 2)
    out = gn.compile(g, outputs={"a": a, "c": c})(x=X)
    np.testing.assert_array_equal(out["a"], X[0])
    np.testing.assert_array_equal(out["c"], X[2])
    with gn.Graph("it2"):
        x = gn.input("x", (3, 2))
        with pytest.raises(ValueError, match="too many values"):
            a, b = x


def test_iterating_a_symbolic_or_scalar_value_is_an_error() -> None:
    with gn.Graph("it"):
        y = gn.input("y", (None, 2))
        with pytest.raises(gn.TraceError, match=f"{HERE}.*iteration.*symbolic"):
            for _ in y:
                pass
        with pytest.raises(gn.TraceError, match="len()"):
            len(y)
        s = gn.input("s", ())
        with pytest.raises(gn.TraceError, match="rank-0"):
            list(s)
        with pytest.raises(TypeError):
            len(s)


def test_abs_and_identity_equality() -> None:
    with gn.Graph("abs") as g:
        x = gn.input("x", (3,))
        y = abs(x)
        assert (x == x) is True and (x == y) is False and {x: 1}[x] == 1
        e = gn.equal(x, y)
    X = np.array([-1.0, 0.0, 2.0], "float32")
    out = gn.compile(g, outputs={"y": y, "e": e})(x=X)
    np.testing.assert_array_equal(out["y"], np.abs(X))
    np.testing.assert_array_equal(out["e"], X == np.abs(X))
    assert "gn.equal" in gn.Value.__doc__
