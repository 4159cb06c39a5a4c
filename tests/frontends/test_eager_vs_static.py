"""Property: any chain of ops gives the same numbers eagerly as compiled, and so do its gradients."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn

UNARY = {"tanh": gn.tanh, "sigmoid": gn.sigmoid, "relu": gn.relu, "exp_neg": lambda a: gn.exp(-a),
         "softmax": gn.softmax, "square": lambda a: a * a, "sum_keep": lambda a: gn.sum(a, axis=-1, keepdims=True),
         "mean_rows": lambda a: gn.mean(a, axis=0, keepdims=True), "T2": lambda a: gn.transpose(gn.transpose(a))}


def _chain(x, w, names):
    h = x @ w
    for n in names:
        h = UNARY[n](h) + 0.5 * h
    return gn.sum(h * h)


@settings(max_examples=25, deadline=None)
@given(names=st.lists(st.sampled_from(sorted(UNARY)), min_size=1, max_size=5), rows=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_eager_equals_compiled(names: list[str], rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 3))
    W = rng.standard_normal((3, 4))
    with gn.eager():
        w = gn.tensor(W)
        y = _chain(gn.tensor(X), w, names)
        (gw,) = gn.grad(y, [w])
    with gn.Graph() as g:
        x = gn.input("x", (None, 3), "float64")
        ws = gn.param("w", (3, 4), "float64", init=W)
        ys = _chain(x, ws, names)
        gws = gn.grad(ys, ws)
    out = gn.compile(g, outputs={"y": ys, "gw": gws})(x=X)
    np.testing.assert_allclose(out["y"], y.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["gw"], gw.numpy(), rtol=1e-9, atol=1e-12)
