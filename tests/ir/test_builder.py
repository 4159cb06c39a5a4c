"""Building graphs: symbolic dims, broadcasting inference, errors at the user's line, params and storage."""

from __future__ import annotations

import inspect
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn

HERE = os.path.basename(__file__)


def test_none_becomes_fresh_symbolic_dim_and_unifies_with_labels() -> None:
    with gn.Graph():
        x = gn.input("x", (None, 784))
        y = gn.input("y", (None,), "int64")
        w = gn.param("w", (784, 10), init=np.zeros((784, 10)))
        loss = gn.cross_entropy(gn.softmax(x @ w), y)
    assert isinstance(x.shape[0], str) and x.shape[0] == y.shape[0]
    assert loss.shape == ()
    assert (x @ w).shape == (x.shape[0], 10)


def test_named_symbolic_broadcast() -> None:
    with gn.Graph():
        a = gn.input("a", ("batch", 10))
        b = gn.input("b", (10,))
        c = gn.input("c", ("batch2", 10))
        assert (a + b).shape == ("batch", 10)
        with pytest.raises(gn.ShapeError) as e:
            line = inspect.currentframe().f_lineno + 1  # the line of the add below
            a + c
    msg = str(e.value)
    assert "batch" in msg and "batch2" in msg and "add" in msg and re.search(rf"{HERE}:{line}(?!\d)", msg)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(1, 3), min_size=0, max_size=4), min_size=2, max_size=3))
def test_broadcast_inference_matches_numpy(shapes: list[list[int]]) -> None:
    try:
        want = np.broadcast_shapes(*[tuple(s) for s in shapes])
    except ValueError:
        want = None
    with gn.Graph():
        vals = [gn.input(f"x{i}", tuple(s)) for i, s in enumerate(shapes)]
        if want is None:
            with pytest.raises(gn.ShapeError):
                out = vals[0]
                for v in vals[1:]:
                    out = out + v
        else:
            out = vals[0]
            for v in vals[1:]:
                out = out + v
            assert out.shape == want


def test_error_names_op_node_shapes_and_line() -> None:
    with gn.Graph():
        x = gn.input("x", (None, 784))
        w = gn.param("w", (785, 10), init=np.zeros((785, 10)))
        with pytest.raises(gn.ShapeError) as e:
            x @ w  # the line the error must point at
    msg = str(e.value)
    assert "matmul" in msg and "784" in msg and "785" in msg and "x: float32" in msg
    src, first = inspect.getsourcelines(test_error_names_op_node_shapes_and_line)
    line = first + next(i for i, t in enumerate(src) if "# the line the error must point at" in t)
    assert re.search(rf"{HERE}:{line}(?!\d)", msg), msg


def test_no_silent_dtype_promotion() -> None:
    with gn.Graph():
        a = gn.input("a", (3,), "float32")
        b = gn.input("b", (3,), "float64")
        with pytest.raises(gn.DTypeError, match="float32 vs float64"):
            a + b
        assert (a + gn.cast(b, "float32")).dtype == "float32"
        assert (a * 2).dtype == "float32" and (2.5 - a).dtype == "float32"
        i = gn.input("i", (3,), "int64")
        with pytest.raises(gn.DTypeError):
            i / i
        with pytest.raises(gn.DTypeError):
            gn.exp(i)


def test_reshape_infers_symbolic_minus_one() -> None:
    with gn.Graph():
        x = gn.input("x", ("batch", 28, 28))
        assert gn.reshape(x, (-1, 784)).shape == ("batch", 784)
        assert gn.reshape(x, ("batch", -1)).shape == ("batch", 784)
        with pytest.raises(gn.ShapeError):
            gn.reshape(x, (-1, 783))


def test_slicing_and_getitem_shapes() -> None:
    with gn.Graph():
        x = gn.input("x", ("batch", 5, 6))
        assert x[:, 1:4, ::2].shape == ("batch", 3, 3)
        assert x[..., 0].shape == ("batch", 5)
        assert x[:, None].shape == ("batch", 1, 5, 6)
        with pytest.raises(gn.ShapeError):
            x[:, 7]


def test_value_has_no_truth_value() -> None:
    with gn.Graph():
        x = gn.input("x", (3,))
        with pytest.raises(gn.TraceError, match="gn.where"):
            if gn.sum(x) > 0:
                pass


def test_params_live_in_shared_storage() -> None:
    with gn.Graph() as g:
        x = gn.input("x", (2,))
        w = gn.param("w", (2,), init=np.array([1.0, 2.0], np.float32))
        y = gn.sum(x * w)
    f1 = gn.compile(g, outputs={"y": y}, updates={w: w + 1})
    f2 = gn.compile(g, outputs={"y": y})
    ones = np.ones(2, np.float32)
    assert f1(x=ones)["y"] == pytest.approx(3.0)  # output computed from the pre-update value
    assert f2(x=ones)["y"] == pytest.approx(5.0)  # the update is visible to the other function
    np.testing.assert_array_equal(g.storage["w"], [2.0, 3.0])


def test_param_init_mismatch_and_duplicate_names() -> None:
    with gn.Graph():
        with pytest.raises(gn.ShapeError):
            gn.param("w", (2, 3), init=np.zeros((3, 2)))
        gn.param("v", (2,), init=np.zeros(2))
        with pytest.raises(gn.GraphError, match="already"):
            gn.param("v", (2,), init=np.zeros(2))


def test_values_from_two_graphs_do_not_mix() -> None:
    with gn.Graph("a"):
        x = gn.input("x", (2,))
    with gn.Graph("b"):
        y = gn.input("y", (2,))
    with pytest.raises(gn.GraphError, match="different graphs"):
        x + y


def test_builder_outside_graph_is_an_error() -> None:
    with pytest.raises(gn.GraphError, match="with gn.Graph"):
        gn.input("x", (2,))
