"""Errors raised while building name the op, the node, the input types and the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

HERE = "test_builder_errors.py"


def _where(op: str) -> str:
    return f"^{op}: (.|\n)*node: .*\\(op {op}\\)(.|\n)*inputs: x: (.|\n)*at: .*{HERE}:\\d+$"


@pytest.mark.parametrize("op, build, err", [
    ("softmax", lambda x: gn.softmax(x, axis=3), gn.ShapeError),
    ("log_softmax", lambda x: gn.log_softmax(x, axis=-3), gn.ShapeError),
    ("sum", lambda x: gn.sum(x, axis=5), gn.ShapeError),
    ("mean", lambda x: gn.mean(x, axis=(0, 0)), gn.ShapeError),
    ("max", lambda x: gn.max(x, axis=2), gn.ShapeError),
    ("argmax", lambda x: gn.argmax(x, axis=2), gn.ShapeError),
    ("transpose", lambda x: gn.transpose(x, (0, 5)), gn.ShapeError),
    ("concat", lambda x: gn.concat([x, x], axis=2), gn.ShapeError),
    ("cast", lambda x: gn.cast(x, "complex128"), gn.DTypeError),
    ("slice", lambda x: x[np.array([0, 2])], gn.ShapeError),
    ("slice", lambda x: x[[0, 1]], gn.ShapeError),
    ("slice", lambda x: x[x > 0], gn.ShapeError),
])
def test_builder_side_checks_are_decorated(op, build, err) -> None:
    with gn.Graph("e"):
        x = gn.input("x", (None, 3))
        with pytest.raises(err, match=_where(op)):
            build(x)


def test_transpose_perm_out_of_range_no_longer_wraps() -> None:
    with gn.Graph("e"):
        x = gn.input("x", (2, 3))
        with pytest.raises(gn.ShapeError, match="axis 5 out of range"):
            gn.transpose(x, (0, 5))  # used to become (0, 1) silently


def test_fancy_index_message_says_what_is_supported() -> None:
    with gn.Graph("e"):
        x = gn.input("x", (4, 3))
        with pytest.raises(gn.ShapeError, match="fancy indexing .*not supported.*ints, slices, None"):
            x[np.array([0, 2])]
        assert x[np.int64(1)].type.shape == (3,)  # a NumPy integer scalar is still a plain index


def test_scalar_that_does_not_fit_names_the_line() -> None:
    with gn.Graph("e"):
        x = gn.input("x", (3,), "int32")
        with pytest.raises(gn.DTypeError, match=f"^mul: cannot combine the float 2.5(.|\n)*at: .*{HERE}:\\d+$"):
            x * 2.5


def test_update_type_error_names_the_line_of_the_new_value() -> None:
    with gn.Graph("u") as g:
        a = gn.param("a", (2,), "float64", init=np.zeros(2))
        new = gn.sum(a)
    line = new.producer.location
    with pytest.raises(gn.GraphError, match=f"new value of a is float64\\[\\], but a is float64\\[2\\](.|\n)*at: {line}"):
        gn.compile(g, updates={a: new})
    assert HERE in line
