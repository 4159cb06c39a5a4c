"""gn.init: fans for Linear (in, out) and Conv2d (O, I, kH, kW) weights, the variances each initializer
promises (checked statistically), seeding, and the spec recorded by gn.param."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphnn as gn

LINEAR, CONV = (300, 200), (64, 32, 3, 3)


def test_fans():
    assert gn.init.fans(LINEAR) == (300, 200)
    assert gn.init.fans(CONV) == (32 * 9, 64 * 9)
    assert gn.init.fans((7,)) == (7, 7)


def _expected_var(name: str, shape: tuple) -> float:
    fi, fo = gn.init.fans(shape)
    return {
        "xavier_uniform": 2.0 / (fi + fo), "xavier_normal": 2.0 / (fi + fo),
        "he_uniform": 2.0 / fi, "he_normal": 2.0 / fi,
    }[name]


@pytest.mark.parametrize("name", ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal"])
@pytest.mark.parametrize("shape", [LINEAR, CONV])
def test_variance_matches_the_fan_formula(name, shape):
    w = getattr(gn.init, name)(seed=0)(shape, "float64")
    n = w.size
    want = _expected_var(name, shape)
    # The sample variance of n iid draws has relative sd sqrt(2/n) (normal) or less (uniform); allow 5 sd.
    assert abs(w.var() / want - 1) < 5 * math.sqrt(2.0 / n)
    assert abs(w.mean()) < 5 * math.sqrt(want / n)
    if "uniform" in name:  # bounds of U[-a, a] with a^2 / 3 = var
        a = math.sqrt(3 * want)
        assert np.abs(w).max() <= a and np.abs(w).max() > 0.99 * a


def test_he_fan_out_gain_and_leaky_slope():
    fi, fo = gn.init.fans(CONV)
    w = gn.init.he_normal(mode="fan_out", seed=1)(CONV, "float64")
    assert abs(w.var() / (2.0 / fo) - 1) < 5 * math.sqrt(2.0 / w.size)
    w = gn.init.he_normal(a=0.5, seed=1)(CONV, "float64")
    assert abs(w.var() / (2.0 / (1.25 * fi)) - 1) < 5 * math.sqrt(2.0 / w.size)
    w = gn.init.xavier_uniform(gain=2.0, seed=1)(LINEAR, "float64")
    assert abs(w.var() / (4 * 2.0 / 500) - 1) < 5 * math.sqrt(2.0 / w.size)
    with pytest.raises(ValueError):
        gn.init.he_normal(mode="fan_avg")


def test_normal_uniform_constant():
    w = gn.init.normal(1.0, 0.5, seed=2)((400, 300), "float64")
    assert abs(w.mean() - 1.0) < 5 * 0.5 / math.sqrt(w.size) and abs(w.std() / 0.5 - 1) < 5 / math.sqrt(2 * w.size)
    u = gn.init.uniform(-2.0, 1.0, seed=2)((400, 300), "float64")
    assert u.min() >= -2.0 and u.max() < 1.0 and abs(u.var() / (9 / 12) - 1) < 5 * math.sqrt(2.0 / u.size)
    np.testing.assert_array_equal(gn.init.zeros()((2, 3), "int64"), np.zeros((2, 3), "int64"))
    np.testing.assert_array_equal(gn.init.ones()((2,), "float32"), np.ones(2, "float32"))
    np.testing.assert_array_equal(gn.init.constant(0.25)((3,), "float32"), np.full(3, 0.25, "float32"))
    assert gn.init.he_normal()((3, 3), "float32").dtype == np.float32
    with pytest.raises(TypeError):
        gn.init.normal()((3,), "int64")


def test_seeding():
    a = gn.init.he_normal(seed=3)
    b = gn.init.he_normal(seed=3)
    x1, x2 = a(LINEAR), a(LINEAR)
    np.testing.assert_array_equal(x1, b(LINEAR))  # same seed, same first draw
    assert not np.array_equal(x1, x2)  # a seeded initializer advances: two layers differ
    gn.init.seed(11)
    u1 = gn.init.xavier_uniform()(LINEAR)
    gn.init.seed(11)
    np.testing.assert_array_equal(gn.init.xavier_uniform()(LINEAR), u1)
    gn.init.seed(12)
    assert not np.array_equal(gn.init.xavier_uniform()(LINEAR), u1)


def test_param_records_the_spec():
    with gn.Graph() as g:
        gn.param("w", LINEAR, init=gn.init.he_uniform(mode="fan_out", seed=5))
        gn.param("b", (200,), init=gn.init.get("zeros"))
    assert g.param_info["w"].init == "he_uniform(mode='fan_out', a=0.0, seed=5)"
    assert g.param_info["b"].init == "zeros()"
    assert g.storage["w"].dtype == np.float32 and not g.storage["b"].any()
    with pytest.raises(ValueError, match="unknown initializer"):
        gn.init.get("lecun")
