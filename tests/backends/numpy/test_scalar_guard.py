"""A fused chain ending in where(ok, chain, kept) with a 0-d `ok` runs the chain only when ok holds (the
optimizers' non-finite-loss guard); the values must equal np.where written here, for both conditions, in place
(a parameter update) and not (a fresh output)."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
import graphnn.backends.numpy.fused_elementwise as fused


@pytest.fixture
def guard_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the guarded runs, so the tests know they exercised that path and not the masked copy."""
    hits = [0]
    real = fused._when

    def spy(*args: object) -> None:
        hits[0] += 1
        real(*args)

    monkeypatch.setattr(fused, "_when", spy)
    return hits


def _guarded_graph(p0: np.ndarray) -> tuple[gn.Graph, dict, dict]:
    """Values computed in the graph (planned buffers): ok = |s| < inf is shared by two selects, as the guard is."""
    with gn.Graph("guard") as g:
        xa = gn.input("a", (4, 3), "float32")
        xb = gn.input("b", (4, 3), "float32")
        s = gn.input("s", (), "float32")
        p = gn.param("p", (4, 3), init=p0.copy())
        a = xa @ np.eye(3, dtype=np.float32)  # matmuls: values in planned buffers, known at plan time
        b = xb @ np.eye(3, dtype=np.float32)
        ok = gn.less(gn.abs(gn.sum(s * a)), float("inf"))
        y = gn.where(ok, a * b - b, b)
        new_p = gn.where(ok, p - 0.5 * a, p)
    return g, {"y": y}, {p: new_p}


@pytest.mark.parametrize("s", [1.0, float("nan")])
def test_guarded_chain_equals_np_where(s: float, guard_calls: list[int]) -> None:
    rng = np.random.default_rng(0)
    a, b, p0 = (rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3))
    g, outs, ups = _guarded_graph(p0)
    fn = gn.compile(g, outputs=outs, updates=ups)
    y = fn(a=a, b=b, s=np.float32(s))["y"]
    ok = np.isfinite(s)
    assert guard_calls[0] >= 2  # both selects ran as guarded chains
    np.testing.assert_allclose(y, np.where(ok, a * b - b, b), rtol=1e-6)
    want_p = p0 - np.float32(0.5) * a if ok else p0
    np.testing.assert_allclose(g.storage["p"], want_p, rtol=1e-6)
    if not ok:
        np.testing.assert_array_equal(g.storage["p"], p0)  # untouched bit for bit
