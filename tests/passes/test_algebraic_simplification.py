"""Algebraic identities (graphnn/passes/algebraic_simplification.py): each rule against a hand-built expected
graph, with numbers, and the broadcasting cases where the identity does not hold left alone."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import graphnn as gn

from .util import assert_structure, evaluate, ops, run_pass

X = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)


def _case(before: Callable[[gn.Value], gn.Value], expected: Callable[[gn.Value], gn.Value],
          x: np.ndarray = X) -> gn.Graph:
    with gn.Graph("before") as g:
        out = before(gn.input("x", x.shape))
    with gn.Graph("expected") as e:
        e.output("out", expected(gn.input("x", x.shape)))
    want = evaluate(gn.optimize(g, {"out": out}, passes="none"), x=x)["out"]
    got = run_pass(g, "simplify", out=out)
    assert_structure(got, e)
    np.testing.assert_allclose(evaluate(got, x=x)["out"], want, rtol=1e-6)
    return got


@pytest.mark.parametrize("before", [
    lambda v: v * 1.0, lambda v: 1.0 * v, lambda v: v + 0.0, lambda v: 0.0 + v, lambda v: v - 0.0,
    lambda v: v / 1.0, lambda v: -(-v), lambda v: gn.identity(v), lambda v: gn.cast(v, "float32"),
    lambda v: gn.transpose(gn.transpose(v)), lambda v: gn.reshape(v, (2, 3)), lambda v: gn.broadcast_to(v, (2, 3)),
    lambda v: gn.where(v > 0.0, v, v), lambda v: gn.sum(gn.reshape(v, (2, 1, 3)), axis=1),
    lambda v: v * gn.broadcast_to(gn.constant(1.0), (2, 3)),
], ids=["x*1", "1*x", "x+0", "0+x", "x-0", "x/1", "neg-neg", "identity", "cast-same", "transpose2",
        "reshape-same", "broadcast-same", "where-same", "sum-size1", "x*ones_like"])
def test_identity_rules_reduce_to_x(before: Callable[[gn.Value], gn.Value]) -> None:
    got = _case(before, lambda v: v)
    assert not got.nodes


def test_x_minus_x_is_zeros() -> None:
    _case(lambda v: v - v, lambda v: gn.broadcast_to(gn.constant(0.0), (2, 3)))


def test_zero_minus_x_is_neg() -> None:
    _case(lambda v: 0.0 - v, lambda v: -v)


def test_add_neg_and_sub_neg() -> None:
    _case(lambda v: v + (-(v * 2.0)), lambda v: v - v * 2.0)
    _case(lambda v: v - (-(v * 2.0)), lambda v: v + v * 2.0)


def test_transpose_chain_composes() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    _case(lambda v: gn.transpose(gn.transpose(v, (1, 0, 2)), (0, 2, 1)), lambda v: gn.transpose(v, (1, 2, 0)), x)


def test_reshape_chain_collapses() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    _case(lambda v: gn.reshape(gn.reshape(v, (6, 4)), (4, 6)), lambda v: gn.reshape(v, (4, 6)), x)
    _case(lambda v: gn.reshape(gn.reshape(v, (6, 4)), (2, 3, 4)), lambda v: v, x)


def test_exp_log_only_when_safe() -> None:
    _case(lambda v: gn.exp(gn.log(gn.exp(v))), lambda v: gn.exp(v))  # exp(log(exp x)): x >= 0 known
    _case(lambda v: gn.exp(gn.log(gn.relu(v))), lambda v: gn.relu(v))  # log 0 = -inf, exp(-inf) = 0: still x
    got = _case(lambda v: gn.exp(gn.log(v)), lambda v: gn.exp(gn.log(v)))  # x < 0 gives nan, not x
    assert ops(got) == ["exp", "log"]


def test_log_exp() -> None:
    _case(lambda v: gn.log(gn.exp(v)), lambda v: v)


@pytest.mark.parametrize("kind", ["add", "mul"])
def test_broadcasting_identities_are_not_applied(kind: str) -> None:
    """x + zeros((4, 2, 3)) is a (4, 2, 3) value, not x: the rewrite would change the type."""
    unit = 0.0 if kind == "add" else 1.0
    big = np.full((4, 2, 3), unit, np.float32)
    with gn.Graph("g") as g:
        x = gn.input("x", (2, 3))
        c = gn.constant(big)
        out = x + c if kind == "add" else c * x
    got = run_pass(g, "simplify", out=out)
    assert ops(got) == [kind]
    assert evaluate(got, x=X)["out"].shape == (4, 2, 3)


def test_stop_gradient_removed_only_after_autodiff() -> None:
    with gn.Graph("g") as g:
        x = gn.input("x", (3,))
        y = gn.sum(gn.stop_gradient(x) * x)
        dx = gn.grad(y, x)
    opt = gn.optimize(g, {"dx": dx})
    np.testing.assert_allclose(evaluate(opt, x=np.array([1.0, 2.0, 3.0], np.float32))["dx"], [1.0, 2.0, 3.0])
    assert "stop_gradient" not in ops(opt)


def test_simplification_reaches_a_fixed_point() -> None:
    with gn.Graph("g") as g:
        x = gn.input("x", (2, 3))
        out = -(-(((x * 1.0) + 0.0) / 1.0))
    got = run_pass(g, "simplify", out=out)
    assert got.outputs["out"] is got.inputs[0]
    rec = got.report.record("simplify")
    assert rec.nodes_before == 5 and rec.nodes_after == 0, rec


def test_reshape_of_keepdims_reduction_is_one_reduction() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    _case(lambda v: gn.reshape(gn.sum(v, axis=(0, 2), keepdims=True), (3,)), lambda v: gn.sum(v, axis=(0, 2)), x)
    _case(lambda v: gn.reshape(gn.max(v, axis=1, keepdims=True), (2, 4)), lambda v: gn.max(v, axis=1), x)
    # a reshape that moves the kept 1 elsewhere is a different value layout: left alone
    _case(lambda v: gn.reshape(gn.sum(v, axis=1, keepdims=True), (2, 4, 1)),
          lambda v: gn.reshape(gn.sum(v, axis=1, keepdims=True), (2, 4, 1)), x)


def test_transposed_product_is_the_product_of_transposed_operands() -> None:
    """transpose(a @ b) becomes bᵀ @ aᵀ (the operands' transposes are views BLAS reads as they are); batched
    products too, and a product that is also read as it is stays one product."""
    w = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    with gn.Graph("t") as g:
        x = gn.input("x", (2, 3))
        out = gn.transpose(x @ gn.constant(w), (1, 0))
    got = run_pass(g, "simplify", out=out)
    assert ops(got).count("matmul") == 1 and got.outputs["out"].producer.op == "matmul"
    np.testing.assert_allclose(evaluate(got, x=X)["out"], (X @ w).T, rtol=1e-6)

    xb = np.random.default_rng(3).standard_normal((5, 2, 3)).astype(np.float32)
    with gn.Graph("b") as g:
        x = gn.input("x", (5, 2, 3))
        out = gn.transpose(x @ gn.constant(w), (0, 2, 1))
    got = run_pass(g, "simplify", out=out)
    assert got.outputs["out"].producer.op == "matmul"
    np.testing.assert_allclose(evaluate(got, x=xb)["out"], np.swapaxes(xb @ w, 1, 2), rtol=1e-6)

    with gn.Graph("shared") as g:
        x = gn.input("x", (2, 3))
        p = x @ gn.constant(w)
        out = gn.transpose(p, (1, 0)) + 1.0
    got = run_pass(g, "simplify", out=out, also=p)
    assert ops(got).count("matmul") == 1 and "transpose" in ops(got)
