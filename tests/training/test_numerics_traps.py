"""Numerics traps are named: an optimizer constant that underflows or overflows in the parameters' dtype is a
build-time GraphError naming the constant, the dtype and the fix; float16 training works end to end."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4))
Y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)


def model(dtype: str) -> tuple[gn.Graph, gn.Value]:
    with gn.Graph("half") as g:
        x = gn.input("x", (None, 4), dtype)
        y = gn.input("y", (None,), "int64")
        w = gn.param("w", (4, 2), dtype, init=np.zeros((4, 2), dtype))
        b = gn.param("b", (2,), dtype, init=np.zeros(2, dtype))
        loss = gn.cross_entropy(gn.softmax(x @ w + b), y)
    return g, loss


@pytest.mark.parametrize("opt, const", [
    (lambda: gn.optim.Adam(0.01), "eps=1e-08 underflows to 0 in float16"),
    (lambda: gn.optim.RMSprop(0.01), "eps=1e-08 underflows to 0 in float16"),
    (lambda: gn.optim.SGD(1e5), "lr=100000 overflows to inf in float16"),
])
def test_constant_out_of_dtype_range_is_a_build_time_error(opt, const) -> None:
    g, loss = model("float16")
    n_nodes = len(g.nodes)
    with pytest.raises(gn.GraphError, match="(?s)" + const + r".*float32 parameters.*at: .*test_numerics_traps.py:\d+") as e:
        opt().updates(loss)
    assert "float32" in str(e.value)
    assert len(g.state) == 0 and len(g.nodes) == n_nodes  # nothing of the failed optimizer stayed


def test_float16_training_end_to_end() -> None:
    """With eps that float16 can hold, Adam trains float16 parameters; the loss matches a float64 NumPy
    evaluation of the trained parameters and falls well below log(2)."""
    g, loss = model("float16")
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.Adam(0.05, eps=1e-4).updates(loss))
    X16 = X.astype(np.float16)
    for _ in range(60):
        out = fn(x=X16, y=Y)
    assert g.storage["w"].dtype == np.float16 and np.all(np.isfinite(g.storage["w"]))
    z = X16.astype(np.float64) @ g.storage["w"].astype(np.float64) + g.storage["b"].astype(np.float64)
    z -= z.max(1, keepdims=True)
    ref = -np.mean(z[np.arange(len(Y)), Y] - np.log(np.exp(z).sum(1)))
    final = float(gn.compile(g, outputs={"loss": loss})(x=X16, y=Y)["loss"])
    assert final == pytest.approx(ref, abs=5e-3)
    assert ref < 0.35 and float(out["loss"]) < 0.4
