"""gn.scan: forward against plain NumPy loops, gradients (first and second order) against float64 finite
differences, symbolic trip counts, reverse order, and the errors a wrong body gets."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

RNG = np.random.default_rng(0)


def _np_scan(body, carry, xs, reverse=False):
    ys = [None] * len(xs)
    order = range(len(xs) - 1, -1, -1) if reverse else range(len(xs))
    for t in order:
        carry, ys[t] = body(carry, xs[t])
    return carry, np.stack(ys)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_matches_a_numpy_loop_with_a_symbolic_trip_count(reverse: bool) -> None:
    with gn.Graph("s") as g:
        xs = gn.input("xs", (None, 3), "float64")  # the trip count is a symbolic dim
        w = gn.input("w", (3, 3), "float64")
        h0 = gn.input("h0", (3,), "float64")
        hT, ys = gn.scan(lambda h, x: (gn.tanh(h @ w + x), h * 2.0), h0, xs, reverse=reverse)
    fn = gn.compile(g, outputs={"hT": hT, "ys": ys})
    W, H = RNG.standard_normal((3, 3)), RNG.standard_normal(3)
    for T in (1, 4, 7):
        X = RNG.standard_normal((T, 3))
        out = fn(xs=X, w=W, h0=H)
        ref_h, ref_y = _np_scan(lambda h, x: (np.tanh(h @ W + x), h * 2.0), H, X, reverse)
        np.testing.assert_allclose(out["hT"], ref_h, rtol=1e-12)
        np.testing.assert_allclose(out["ys"], ref_y, rtol=1e-12)
    assert ys.shape[0] == xs.shape[0]


def test_scan_tuples_of_carries_and_xs() -> None:
    with gn.Graph("s") as g:
        a = gn.input("a", (5, 2), "float32")
        b = gn.input("b", (5, 2), "float32")
        z = gn.input("z", (2,), "float32")

        def body(c, x):
            s, p = c
            xa, xb = x
            return (s + xa, p * xb), (s, p + 1.0)

        (s, p), (ys, yp) = gn.scan(body, (z, z + 1.0), (a, b))
    out = gn.compile(g, outputs={"s": s, "p": p, "ys": ys, "yp": yp})(
        a=(A := RNG.standard_normal((5, 2)).astype("float32")), b=(B := RNG.standard_normal((5, 2)).astype("float32")),
        z=np.zeros(2, "float32"))
    np.testing.assert_allclose(out["s"], A.sum(0), rtol=1e-5)
    np.testing.assert_allclose(out["p"], B.prod(0), rtol=1e-5)
    np.testing.assert_allclose(out["ys"], np.concatenate([np.zeros((1, 2)), np.cumsum(A, 0)[:-1]]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["yp"], np.concatenate([np.ones((1, 2)), np.cumprod(B, 0)[:-1]]) + 1, rtol=1e-5)


def _rnn_loss(x: gn.Value, h0: gn.Value, w: gn.Value, u: gn.Value) -> gn.Value:
    def cell(c, xt):
        h, m = c
        h2 = gn.tanh(h @ w + xt @ u)
        return (h2, m + gn.sigmoid(h2)), h2 * m

    (h, m), ys = gn.scan(cell, (h0, h0 * 0.5), x)
    return gn.sum(ys * ys) + gn.sum(h * m)


def test_scan_gradient_first_and_second_order() -> None:
    X, H = RNG.standard_normal((4, 2, 3)), RNG.standard_normal((2, 3))
    W, U = RNG.standard_normal((3, 3)) * 0.5, RNG.standard_normal((3, 3)) * 0.5
    assert max(gn.check_grad(_rnn_loss, X, H, W, U, tol=1e-6).errors.values()) < 1e-6

    def grads(x, h0, w, u):
        gs = gn.grad(_rnn_loss(x, h0, w, u), [x, h0, w, u])
        return gn.concat([gn.reshape(v, (-1,)) for v in gs], axis=0)

    assert max(gn.check_grad(grads, X, H, W, U, tol=1e-6).errors.values()) < 1e-6


def test_reverse_scan_gradient() -> None:
    X, H = RNG.standard_normal((5, 3)), RNG.standard_normal(3)

    def f(x, h0):
        h, ys = gn.scan(lambda h, xt: (gn.tanh(h * xt + 0.3), h * xt), h0, x, reverse=True)
        return gn.sum(ys * ys) + gn.sum(h)

    assert gn.check_grad(f, X, H, tol=1e-6).errors


def test_backward_is_a_scan_that_reads_the_saved_carries() -> None:
    with gn.Graph("s") as g:
        x = gn.input("x", (6, 4), "float32")
        w = gn.param("w", (4, 4), init=gn.init.zeros())
        _, ys = gn.scan(lambda h, xt: (gn.tanh(h @ w + xt), h), x[0] * 0.0, x)
        loss = gn.sum(ys)
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params))
    scans = [n for n in fn.graph.nodes if n.op == "scan"]
    assert len(scans) == 2  # the forward runs once; the backward scan runs the other way
    fwd, bwd = scans
    assert fwd.attrs["reverse"] is False and bwd.attrs["reverse"] is True
    assert any(v.id in {o.id for o in fwd.outputs} for v in bwd.inputs)


def test_carry_changing_type_is_a_shape_error_at_the_users_line() -> None:
    with gn.Graph("s"):
        x = gn.input("x", (5, 3), "float32")
        h0 = gn.input("h0", (3,), "float32")
        with pytest.raises(gn.ShapeError, match=r"(?s)carry 0 from float32\[3\] to float32\[2,3\].*at: .*test_scan.py:"):
            gn.scan(lambda h, xt: (gn.reshape(gn.concat([h, xt]), (2, 3)), xt), h0, x)
        with pytest.raises(gn.ShapeError, match=r"carry 0 from float32\[3\] to float64"):
            gn.scan(lambda h, xt: (gn.cast(h, "float64"), xt), h0, x)


def test_wrong_body_structure_is_a_shape_error() -> None:
    with gn.Graph("s") as g:
        x = gn.input("x", (5, 3), "float32")
        h0 = gn.input("h0", (3,), "float32")
        total = gn.sum(x)
        n = len(g.nodes)
        with pytest.raises(gn.ShapeError, match="must return a pair"):
            gn.scan(lambda h, xt: h + xt, h0, x)
        with pytest.raises(gn.ShapeError, match="must keep its structure"):
            gn.scan(lambda h, xt: ((h, h), xt), h0, x)
        with pytest.raises(gn.ShapeError, match="must keep its structure"):
            gn.scan(lambda c, xt: (c[0], xt), (h0, h0), x)
        with pytest.raises(gn.ShapeError, match="scalar"):
            gn.scan(lambda h, xt: (h, xt), h0, total)
        assert len(g.nodes) == n  # failed calls leave the graph as it was


def test_xs_with_different_lengths_are_refused() -> None:
    with gn.Graph("s"):
        a = gn.input("a", (5, 3), "float32")
        b = gn.input("b", (4, 3), "float32")
        with pytest.raises(gn.ShapeError, match="leading dims differ"):
            gn.scan(lambda c, x: (c + x[0] * x[1], c), a[0], (a, b))

