"""Symbolic dims: a dim declared None unifies with other symbolic dims, never silently with a fixed size."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

HERE = "test_dims.py"


def test_none_dim_against_a_fixed_size_is_a_shape_error_and_keeps_the_input_type() -> None:
    with gn.Graph("u"):
        x = gn.input("x", (None, 3))
        with pytest.raises(gn.ShapeError, match=f"declare it as 3(.|\\n)*at: .*{HERE}"):
            x @ x
        assert isinstance(x.type.shape[0], str)


def test_broadcasting_a_symbolic_dim_against_a_fixed_size_is_refused_when_building() -> None:
    with gn.Graph("u"):
        x = gn.input("x", (None, 3))
        c = gn.constant(np.ones((4, 3), "float32"))
        with pytest.raises(gn.ShapeError, match=f"against 4(.|\\n)*at: .*{HERE}"):
            x + c
        n = gn.input("n", ("batch", 3))
        with pytest.raises(gn.ShapeError, match="'batch' against 4"):
            n * c
        assert isinstance(x.type.shape[0], str)


def test_none_dims_still_unify_with_other_symbolic_dims() -> None:
    with gn.Graph("u") as g:
        x = gn.input("x", (None, 4))
        y = gn.input("y", (None,), "int64")
        loss = gn.cross_entropy(gn.softmax(x), y, reduction="none")
        z = x + gn.constant(np.ones((1, 4), "float32"))  # against 1 stays symbolic
    assert x.type.shape[0] == y.type.shape[0] == loss.type.shape[0]
    assert isinstance(z.type.shape[0], str)
    out = gn.compile(g, outputs={"l": loss})(x=np.zeros((5, 4), "float32"), y=np.zeros(5, "int64"))
    np.testing.assert_allclose(out["l"], np.full(5, np.log(4.0)), rtol=1e-6)
