"""squeeze, unsqueeze, stack, split, tile and cumsum as a user meets them: NumPy's results (checked per op case
in tests/conformance), and the mistakes they refuse at the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn


def test_bad_arguments_are_shape_errors_at_the_users_line() -> None:
    with gn.Graph("g"):
        x = gn.input("x", (None, 1, 6))
        bad = [
            (lambda: gn.squeeze(x, 2), "cannot squeeze axis 2 of size 6"),
            (lambda: gn.squeeze(x, 0), "only size-1 axes"),  # symbolic: may not be 1 at run time
            (lambda: gn.unsqueeze(x, 5), "axis 5 out of range for rank 4"),
            (lambda: gn.split(x, 4, axis=2), "into 4 equal parts"),
            (lambda: gn.split(x, [2, 2], axis=-1), r"add up to 6"),
            (lambda: gn.split(x, 2, axis=0), "symbolic axis 0"),
            (lambda: gn.stack([x, x[:, :, :3]]), "stack needs equal shapes"),
            (lambda: gn.stack([x], axis=4), "axis 4 out of range"),
            (lambda: gn.tile(x, (-1, 1, 1)), "must be non-negative"),  # a symbolic dim tiles to B*r now
            (lambda: gn.cumsum(x, 3), "axis 3 out of range"),
        ]
        for make, msg in bad:
            with pytest.raises(gn.ShapeError, match=rf"{msg}(.|\n)*test_shape_builders.py:\d+"):
                make()
        with pytest.raises(gn.DTypeError, match="cumsum of bool"):
            gn.cumsum(x > 0, 1)


def test_split_returns_views_that_train_like_numpy_slices() -> None:
    with gn.Graph("g") as g:
        x = gn.input("x", (None, 6), "float64")
        a, b, c = gn.split(x, [1, 2, 3], axis=1)
        loss = gn.sum(a * 1.0) + gn.sum(b * 2.0) + gn.sum(c * 3.0)
        (gx,) = gn.grad(loss, [x])
    out = gn.compile(g, outputs={"b": b, "gx": gx})(x=np.arange(12.0).reshape(2, 6))
    np.testing.assert_array_equal(out["b"], np.arange(12.0).reshape(2, 6)[:, 1:3])
    np.testing.assert_array_equal(out["gx"], np.tile([1.0, 2, 2, 3, 3, 3], (2, 1)))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_cumsum_keeps_its_dtype(dtype: str) -> None:
    with gn.Graph("g") as g:
        x = gn.input("x", (None, 4), dtype)
        ys = [gn.cumsum(x, 1), gn.cumsum(x, -1, exclusive=True, reverse=True)]
    fn = gn.compile(g, outputs={"a": ys[0], "b": ys[1]})
    xv = np.array([[1, 2, 3, 4], [2**30, 2**30, -5, 7]], dtype)  # int32 wraps as int32 arithmetic does
    out = fn(x=xv)
    assert out["a"].dtype == np.dtype(dtype) and out["b"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out["a"], np.cumsum(xv, 1, dtype=dtype))
    want = np.stack([[sum(row[j + 1:], start=np.array(0, dtype)) for j in range(4)] for row in xv]).astype(dtype)
    np.testing.assert_array_equal(out["b"], want)
