"""Stability: the naive compositions overflow in float32 with passes="none"; the default pipeline returns the
exact loss (float64 log-sum-exp reference written here) and finite gradients; diagnostics tell the user at
the configured level; the double-where fix keeps masked gradients NaN-free."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import graphnn as gn

from .util import ops


def _line() -> int:
    return inspect.currentframe().f_back.f_lineno  # type: ignore[union-attr]


def _softmax64(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _ce64(x: np.ndarray, y: np.ndarray) -> float:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[:, 0]
    return float(np.mean(lse - x[np.arange(len(y)), y]))


def _ce_graph(hand_written: bool = False) -> tuple[gn.Graph, gn.Value, gn.Value]:
    with gn.Graph("ce") as g:
        x, y = gn.input("x", (None, 3)), gn.input("y", (None,), "int64")
        if hand_written:
            e = gn.exp(x)
            p = e / gn.sum(e, axis=-1, keepdims=True)
        else:
            p = gn.softmax(x)
        loss = gn.cross_entropy(p, y)
        dx = gn.grad(loss, x)
    return g, loss, dx


@pytest.mark.parametrize("scale", [1e4, 88.8])
@pytest.mark.parametrize("hand_written", [False, True])
def test_softmax_cross_entropy_is_exact_at_large_logits(scale: float, hand_written: bool) -> None:
    x = (np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [-1.0, 0.5, 1.0]]) * scale).astype(np.float32)
    y = np.array([1, 2, 0])  # every label sits on a logit far below the max: p underflows to 0
    g, loss, dx = _ce_graph(hand_written)
    naive = gn.compile(g, outputs={"loss": loss, "dx": dx}, passes="none")(x=x, y=y)
    assert not np.isfinite(naive["loss"]), naive["loss"]
    assert not np.all(np.isfinite(naive["dx"]))
    out = gn.compile(g, outputs={"loss": loss, "dx": dx})(x=x, y=y)
    want = _ce64(x, y)
    assert abs(float(out["loss"]) - want) <= 1e-6 * abs(want), (float(out["loss"]), want)
    assert np.all(np.isfinite(out["dx"]))
    np.testing.assert_allclose(out["dx"], (_softmax64(x) - np.eye(3)[y]) / 3, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("target", ["onehot", "soft"])
def test_float_targets_at_large_logits(target: str) -> None:
    x = (np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]]) * 1e4).astype(np.float32)
    t = np.eye(3, dtype=np.float32)[[1, 2]] if target == "onehot" else np.full((2, 3), 1 / 3, np.float32)
    with gn.Graph("ce") as g:
        xv, tv = gn.input("x", (None, 3)), gn.input("t", (None, 3))
        loss = gn.cross_entropy(gn.softmax(xv), tv, reduction="sum")
        dx = gn.grad(loss, xv)
    naive = gn.compile(g, outputs={"loss": loss}, passes="none")(x=x, t=t)
    assert not np.isfinite(naive["loss"])
    out = gn.compile(g, outputs={"loss": loss, "dx": dx})(x=x, t=t)
    x64 = x.astype(np.float64)
    logp = x64 - (x64.max(-1, keepdims=True) + np.log(np.exp(x64 - x64.max(-1, keepdims=True)).sum(-1, keepdims=True)))
    want = float(-(t * logp).sum())
    assert abs(float(out["loss"]) - want) <= 1e-6 * abs(want)
    np.testing.assert_allclose(out["dx"], _softmax64(x) * t.sum(-1, keepdims=True) - t, rtol=1e-6, atol=1e-8)


def test_sigmoid_binary_cross_entropy_at_large_logits() -> None:
    z = np.array([1e4, -1e4, 1e4, -1e4], np.float32)
    t = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    with gn.Graph("bce") as g:
        zv, tv = gn.input("z", (4,)), gn.input("t", (4,))
        loss = gn.binary_cross_entropy(gn.sigmoid(zv), tv)
        dz = gn.grad(loss, zv)
    naive = gn.compile(g, outputs={"loss": loss, "dz": dz}, passes="none")(z=z, t=t)
    assert not np.isfinite(naive["loss"]) and not np.all(np.isfinite(naive["dz"]))
    out = gn.compile(g, outputs={"loss": loss, "dz": dz})(z=z, t=t)
    z64 = z.astype(np.float64)
    want = float(np.mean(np.maximum(z64, 0) - z64 * t + np.log1p(np.exp(-np.abs(z64)))))  # = 5000
    assert float(out["loss"]) == pytest.approx(want, rel=1e-7)
    sig = np.where(z64 >= 0, 1.0, 0.0)  # sigmoid(+-1e4) is 1 / 0 to far below float64 rounding
    np.testing.assert_allclose(out["dz"], (sig - t) / 4, rtol=1e-7, atol=0)


def test_diagnostics_name_the_users_line_pattern_replacement_and_reason() -> None:
    with gn.Graph("g") as g:
        x, y = gn.input("x", (None, 3)), gn.input("y", (None,), "int64")
        line = _line() + 1
        loss = gn.cross_entropy(gn.softmax(x), y)
        sp = gn.log(1.0 + gn.exp(x))
    fn = gn.compile(g, outputs={"loss": loss, "sp": sp})
    diags = {d["pattern"]: d for d in fn.report().diagnostics}
    d = diags["cross_entropy(softmax(x))"]
    assert d["location"].endswith(f"test_stability.py:{line}") and d["fixed"]
    assert d["replacement"] == "softmax_cross_entropy(x)" and "log-sum-exp" in d["reason"]
    assert diags["log(1 + exp(x))"]["location"].endswith(f"test_stability.py:{line + 1}")
    text = str(fn.report())
    assert "stability [fixed] cross_entropy(softmax(x))" in text and f"test_stability.py:{line}" in text


def _masked(f: str) -> tuple[gn.Graph, gn.Value, gn.Value]:
    with gn.Graph("w") as g:
        x = gn.input("x", (4,))
        c = x > 0.0
        branch = {"sqrt": lambda: gn.sqrt(x), "log": lambda: gn.log(x), "div": lambda: 1.0 / x}[f]()
        y = gn.sum(gn.where(c, branch, 0.0))
        dx = gn.grad(y, x)
    return g, y, dx


@pytest.mark.parametrize("f", ["sqrt", "log", "div"])
def test_double_where_keeps_masked_gradient_finite(f: str) -> None:
    x = np.array([-1.0, 0.0, 4.0, 0.25], np.float32)
    g, y, dx = _masked(f)
    naive = gn.compile(g, outputs={"dx": dx}, passes="none")(x=x)["dx"]
    assert np.isnan(naive).any(), naive
    fn = gn.compile(g, outputs={"y": y, "dx": dx})
    out = fn(x=x)
    pos = x[2:].astype(np.float64)
    want = {"sqrt": 0.5 / np.sqrt(pos), "log": 1 / pos, "div": -1 / pos**2}[f]
    np.testing.assert_allclose(out["dx"], np.r_[0.0, 0.0, want], rtol=1e-6)
    (d,) = [d for d in fn.report().diagnostics if d["pattern"].startswith("where")]
    assert d["fixed"] and d["pattern"] == f"where(c, a, {f}(x))"


def test_double_where_needs_a_gradient_request() -> None:
    with gn.Graph("w") as g:
        x = gn.input("x", (4,))
        y = gn.where(x > 0.0, gn.sqrt(x), 0.0)
    fn = gn.compile(g, outputs={"y": y})
    assert ops(fn.graph).count("where") == 1 and not fn.report().diagnostics


def test_unfixable_pattern_is_a_warning() -> None:
    with gn.Graph("w") as g:
        x = gn.input("x", (4,))
        line = _line() + 1
        y = gn.sum(gn.where(x > 0.0, 2.0 * gn.sqrt(x), 0.0))
        dx = gn.grad(y, x)
    with pytest.warns(gn.StabilityWarning, match="cannot fix") as rec:
        fn = gn.compile(g, outputs={"dx": dx})
    assert rec[0].filename.endswith("test_stability.py") and rec[0].lineno == line
    assert [d["fixed"] for d in fn.report().diagnostics] == [False]


def test_level_fix_is_silent_for_fixed_patterns() -> None:
    g, loss, _ = _ce_graph()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fn = gn.compile(g, outputs={"loss": loss}, stability="fix")
    assert len(fn.report().diagnostics) == 1


def test_level_warn_warns_on_fixed_patterns() -> None:
    g, loss, _ = _ce_graph()
    with pytest.warns(gn.StabilityWarning, match=r"rewrote unstable cross_entropy\(softmax\(x\)\)"):
        gn.compile(g, outputs={"loss": loss}, stability="warn")


def test_level_error_raises() -> None:
    g, loss, _ = _ce_graph()
    with pytest.raises(gn.GraphError, match=r"(?s)stability='error'.*cross_entropy\(softmax\(x\)\)"):
        gn.compile(g, outputs={"loss": loss}, stability="error")


def test_level_off_records_nothing_and_skips_the_where_fix() -> None:
    g, _, dx = _masked("log")
    fn = gn.compile(g, outputs={"dx": dx}, stability="off")
    assert not fn.report().diagnostics
    assert np.isnan(fn(x=np.array([-1.0, 0.0, 1.0, 2.0], np.float32))["dx"]).any()
    with pytest.raises(gn.GraphError, match="stability must be one of"):
        gn.compile(g, outputs={"dx": dx}, stability="loud")
