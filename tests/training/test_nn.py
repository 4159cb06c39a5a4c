"""gn.nn layers: forward values against plain NumPy, parameter naming under name scopes, freezing."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn import nn

RNG = np.random.default_rng(3)


def run(g: gn.Graph, out: gn.Value, **feeds: np.ndarray) -> np.ndarray:
    return gn.compile(g, outputs={"y": out}, mode="eval")(**feeds)["y"]


def test_linear_forward_and_names() -> None:
    x_np = RNG.normal(size=(5, 4)).astype(np.float32)
    with gn.Graph("t") as g:
        x = gn.input("x", (None, 4))
        lin = nn.Linear(4, 3)
        y = lin(x)
    w, b = g.storage["linear/w"], g.storage["linear/b"]
    np.testing.assert_allclose(run(g, y, x=x_np), x_np @ w + b, rtol=1e-6)
    assert [p.name for p in lin.params] == ["linear/w", "linear/b"]
    assert all(n.scope == "linear" for n in g.nodes)


def test_linear_checks_in_features_and_infers_none() -> None:
    with gn.Graph("t"):
        x = gn.input("x", (None, 4))
        with pytest.raises(gn.ShapeError, match="4 features"):
            nn.Linear(5, 3)(x)
        assert nn.Linear(None, 2)(x).shape[-1] == 2


def test_sequential_scopes_are_unique_and_nested() -> None:
    with gn.Graph("t") as g:
        x = gn.input("x", (None, 4))
        m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        m(x)
    names = [p.name for p in g.params]
    assert names == ["sequential/linear/w", "sequential/linear/b", "sequential/linear_1/w", "sequential/linear_1/b"]
    assert len(m.params) == 4 and len(m) == 3


def test_calling_twice_shares_parameters() -> None:
    with gn.Graph("t") as g:
        x = gn.input("x", (None, 3))
        lin = nn.Linear(3, 3)
        lin(lin(x))
    assert len(g.params) == 2


def test_default_init_is_deterministic_and_he_scaled() -> None:
    def make() -> np.ndarray:
        with gn.Graph("t") as g:
            nn.Linear(400, 300)(gn.input("x", (None, 400)))
        return g.storage["linear/w"]

    a, b = make(), make()
    np.testing.assert_array_equal(a, b)
    assert abs(a.var() - 2.0 / 400) < 0.1 * 2.0 / 400  # He: Var = 2 / fan_in


def test_maxout_matches_numpy() -> None:
    x_np = RNG.normal(size=(6, 4)).astype(np.float32)
    with gn.Graph("t") as g:
        x = gn.input("x", (None, 4))
        m = nn.Maxout(4, 3, pieces=2)
        y = m(x)
    w, b = g.storage["maxout/affine/w"], g.storage["maxout/affine/b"]
    z = (x_np @ w + b).reshape(6, 3, 2)  # pieces are consecutive along the feature axis
    np.testing.assert_allclose(run(g, y, x=x_np), z.max(axis=-1), rtol=1e-6)
    assert [p.name for p in m.params] == ["maxout/affine/w", "maxout/affine/b"]


def test_prelu_per_channel_nchw_and_learnable() -> None:
    x_np = RNG.normal(size=(2, 3, 4, 4))
    with gn.Graph("t") as g:
        x = gn.input("x", (None, 3, 4, 4), "float64")
        act = nn.PReLU(3, init=0.1, dtype="float64")
        y = act(x)
        loss = gn.sum(y)
    slope = np.array([0.1, 0.1, 0.1]).reshape(3, 1, 1)
    np.testing.assert_allclose(run(g, y, x=x_np), np.where(x_np > 0, x_np, slope * x_np))
    assert act.params[0].shape == (3, 1, 1)
    gn.compile(g, outputs={"l": loss}, updates=gn.optim.SGD(1.0).updates(loss))(x=x_np)
    expected = 0.1 - np.minimum(x_np, 0).sum(axis=(0, 2, 3))  # d loss / d slope_c = sum of negative inputs
    np.testing.assert_allclose(g.storage["prelu/slope"].ravel(), expected, rtol=1e-12)


def test_leaky_relu_and_flatten() -> None:
    x_np = RNG.normal(size=(2, 3, 2)).astype(np.float32)
    with gn.Graph("t") as g:
        x = gn.input("x", (None, 3, 2))
        y = nn.Flatten()(nn.LeakyReLU(0.2)(x))
    assert y.shape[1] == 6
    np.testing.assert_allclose(run(g, y, x=x_np), np.where(x_np > 0, x_np, 0.2 * x_np).reshape(2, 6), rtol=1e-6)


def test_trainable_false_excludes_parameters() -> None:
    with gn.Graph("t") as g:
        x = gn.input("x", (None, 4))
        first = nn.Linear(4, 4, trainable=False)
        m = nn.Sequential(first, nn.Linear(4, 2))
        m(x)
    assert {p.name for p in g.trainable_params} == {"sequential/linear_1/w", "sequential/linear_1/b"}
    first.trainable = True
    assert len(g.trainable_params) == 4
    m.trainable = False
    assert g.trainable_params == []


def test_layer_on_a_non_value_is_an_error() -> None:
    with pytest.raises(gn.GraphError, match="graph value"):
        nn.Linear(2, 2)(np.zeros((1, 2)))  # type: ignore[arg-type]


def test_layers_take_gn_init_initializers() -> None:
    with gn.Graph("t") as g:
        nn.Linear(300, 200, init=gn.init.xavier_normal(seed=1), bias_init=gn.init.constant(0.5))(
            gn.input("x", (None, 300)))
    w = g.storage["linear/w"]
    assert abs(w.var() - 2.0 / 500) < 0.1 * 2.0 / 500  # Glorot: Var = 2 / (fan_in + fan_out)
    assert np.all(g.storage["linear/b"] == 0.5)
