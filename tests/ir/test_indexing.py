"""gather / scatter_add as a user meets them: x[ids] and gn.gather build the op, bad indices fail at the user's
line (constants when the graph is built, feeds before any parameter changes), and gn.nn.Embedding trains."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphnn as gn


def test_getitem_with_an_int_value_is_a_gather_on_axis_0() -> None:
    with gn.Graph("g") as g:
        e = gn.input("e", (5, 3))
        ids = gn.input("ids", (None, 2), "int32")
        y = e[ids]
    assert y.producer.op == "gather" and y.shape[1:] == (2, 3)
    ev = np.arange(15, dtype=np.float32).reshape(5, 3)
    iv = np.array([[4, 0], [-1, 2], [1, 1]], dtype=np.int32)
    out = gn.compile(g, outputs={"y": y})(e=ev, ids=iv)["y"]
    np.testing.assert_array_equal(out, ev[iv])


def test_float_index_value_is_still_refused_and_names_gather() -> None:
    with gn.Graph("g"):
        e = gn.input("e", (5, 3))
        with pytest.raises(gn.ShapeError, match="gn.gather"):
            e[gn.input("f", (2,))]
        with pytest.raises(gn.DTypeError, match="indices must be int32 or int64"):
            gn.gather(e, gn.input("f2", (2,)))


def test_constant_indices_out_of_range_fail_at_the_users_line() -> None:
    with gn.Graph("g"):
        x = gn.input("x", (4, 3))
        np.testing.assert_equal(gn.gather(x, [3, -4], axis=0).shape, (2, 3))
        with pytest.raises(gn.ShapeError, match=r"out of range for axis 1 of size 3(.|\n)*test_indexing.py:\d+"):
            gn.gather(x, [0, 3], axis=1)


def test_fed_indices_out_of_range_are_a_feed_error_before_any_update() -> None:
    with gn.Graph("g") as g:
        ids = gn.input("ids", (None,), "int64")
        w = gn.param("w", (4, 2), init=np.ones((4, 2), np.float32))
        rows = gn.gather(w, ids)
        line = f"test_indexing.py:{inspect.currentframe().f_lineno - 1}"
        loss = gn.sum(rows * 3.0)
    step = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.5).updates(loss, [w]))
    for bad in ([0, 4], [-5, 1]):
        with pytest.raises(gn.FeedError, match=rf"gather .*{line}.*\[-4, 4\)"):
            step(ids=np.array(bad))
        np.testing.assert_array_equal(np.asarray(g.storage[w.name]), np.ones((4, 2)))
    step(ids=np.array([1, 1, -1]))  # row 1 twice, row 3 once: the gradient scatter-adds 3 per use
    want = np.ones((4, 2), np.float32)
    want[1] -= 0.5 * 6.0
    want[3] -= 0.5 * 3.0
    np.testing.assert_allclose(np.asarray(g.storage[w.name]), want)


def test_embedding_layer_rows_and_gradient() -> None:
    with gn.Graph("lm") as g:
        ids = gn.input("ids", (None, 3), "int64")
        emb = gn.nn.Embedding(7, 4)
        h = emb(ids)
        loss = gn.sum(h * h)
        (gw,) = gn.grad(loss, [emb.weight])
    assert emb.weight.shape == (7, 4) and h.shape[1:] == (3, 4)
    iv = np.array([[0, 6, 6], [2, 0, 5]])
    out = gn.compile(g, outputs={"h": h, "gw": gw})(ids=iv)
    w = np.asarray(g.storage[emb.weight.name])
    np.testing.assert_array_equal(out["h"], w[iv])
    counts = np.bincount(iv.ravel(), minlength=7)[:, None]
    np.testing.assert_allclose(out["gw"], 2 * w * counts, rtol=1e-6)  # d/dw sum(w[i]^2) = 2 w * uses


def test_embedding_default_init_is_seeded_standard_normal() -> None:
    def weights() -> np.ndarray:
        with gn.Graph("e") as g:
            emb = gn.nn.Embedding(400, 50)
            emb(gn.input("ids", (2,), "int64"))
        return np.asarray(g.storage[emb.weight.name])

    a, b = weights(), weights()
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean()) < 0.02 and abs(a.std() - 1.0) < 0.02  # N(0, 1), as PyTorch's nn.Embedding
