"""gn.check_grad itself: it passes correct rules, catches a wrong one, and leaves graph storage as it was."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir import op_registry


def test_reports_per_input_and_passes_correct_rule() -> None:
    rng = np.random.default_rng(0)
    res = gn.check_grad(lambda a, b: gn.tanh(a) * b, rng.standard_normal((2, 3)), rng.standard_normal(3))
    assert set(res.errors) == {"x0", "x1"}
    assert res.worst < 1e-8
    assert "x0" in str(res)


def test_catches_a_wrong_gradient_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = op_registry.registry()
    wrong = dataclasses.replace(reg["tanh"], grad=lambda node, gouts: [gouts[0] * (1 - node.outputs[0])])
    monkeypatch.setitem(reg, "tanh", wrong)
    with pytest.raises(AssertionError, match="gradient check failed"):
        gn.check_grad(gn.tanh, np.array([0.5, -1.0]), tol=1e-6)


def test_graph_form_perturbs_params_and_restores_them() -> None:
    w0 = np.array([[0.5, -1.0], [2.0, 0.1]])
    with gn.Graph("g") as g:
        x = gn.input("x", (2,), "float64")
        w = gn.param("w", (2, 2), "float64", init=w0)
        y = gn.sigmoid(w @ x)  # not a scalar: contracted with fixed random weights
    res = gn.check_grad(y, wrt=[w, x], feeds={"x": np.array([1.0, -2.0])}, tol=1e-7)
    assert set(res.errors) == {"w", "x"}
    np.testing.assert_array_equal(g.storage["w"], w0)
    assert g.nodes[-1].op != "grad"  # the user's graph got no request added
