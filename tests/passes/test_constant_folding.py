"""Constant folding: constant subgraphs become constants of exactly the op's dtype; shape arithmetic (element
counts from reductions of broadcast constants) folds even with symbolic dims elsewhere; big results stay."""

from __future__ import annotations

import numpy as np

import graphnn as gn

from .util import assert_structure, evaluate, ops, run_pass


def test_constant_expression_folds_to_one_constant() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    with gn.Graph("before") as g:
        x = gn.input("x", (2, 2))
        c = gn.constant(a)
        k = gn.reshape(gn.transpose(gn.exp(c) * 2.0 - 1.0), (2, 2))
        out = x + gn.sum(k, axis=0, keepdims=True)
    want = (np.exp(a) * np.float32(2) - np.float32(1)).T.sum(0, keepdims=True)
    with gn.Graph("expected") as e:
        e.output("out", gn.input("x", (2, 2)) + gn.constant(want))
    got = run_pass(g, "constant_folding", out=out)
    assert_structure(got, e)
    (folded,) = [got.constants[v.id] for v in got.const_values]
    assert folded.dtype == np.float32 and folded.shape == (1, 2)
    np.testing.assert_array_equal(folded, want)  # float32 arithmetic, as the kernels would do it
    np.testing.assert_allclose(evaluate(got, x=np.zeros((2, 2), np.float32))["out"], np.broadcast_to(want, (2, 2)))


def test_int_and_bool_folding_keeps_dtypes() -> None:
    with gn.Graph("g") as g:
        x = gn.input("x", (3,), "int64")
        k = gn.constant(np.array([1, 2, 3], np.int64))
        out = gn.where(k > 1, x, k * 7)
    got = run_pass(g, "constant_folding", out=out)
    assert ops(got) == ["where"]
    consts = sorted((str(got.constants[v.id].dtype), got.constants[v.id].tolist()) for v in got.const_values)
    assert consts == [("bool", [False, True, True]), ("int64", [7, 14, 21])]


def test_element_count_of_broadcast_constant_folds_with_static_axes() -> None:
    """mean's gradient divides by a count; sum(ones_like(x)) over static axes is that count, from shapes."""
    with gn.Graph("g") as g:
        x = gn.input("x", (None, 5))
        ones = gn.broadcast_to(gn.constant(1.0), x.shape)
        per_row = gn.sum(ones, axis=1)  # = 5 for every row, whatever the batch size
        everything = gn.sum(ones)  # depends on the batch size: must stay a computation
        out = x / gn.reshape(per_row, (-1, 1))
    got = run_pass(g, "constant_folding", out=out, n=everything)
    assert ops(got).count("sum") == 1
    xs = np.arange(10, dtype=np.float32).reshape(2, 5)
    res = evaluate(got, x=xs)
    np.testing.assert_allclose(res["out"], xs / 5)
    assert res["n"] == 10


def test_large_results_are_not_folded() -> None:
    with gn.Graph("g") as g:
        out = gn.broadcast_to(gn.constant(np.float32(2.0)), (100, 100)) * 1.0
    got = run_pass(g, "constant_folding", out=out)
    assert ops(got) == ["broadcast_to", "mul"]
