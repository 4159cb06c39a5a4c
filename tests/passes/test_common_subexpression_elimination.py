"""Common-subexpression elimination: duplicates merge (with both provenances), different attrs or inputs do
not, equal constants become one."""

from __future__ import annotations

import numpy as np

import graphnn as gn

from .util import assert_structure, evaluate, ops, run_pass


def test_duplicate_nodes_and_constants_merge() -> None:
    with gn.Graph("before") as g:
        x = gn.input("x", (2, 3))
        a = gn.exp(x * 2.0)
        b = gn.exp(x * 2.0)  # same op, same inputs (after the two 2.0 constants merge)
        out = a + b
    with gn.Graph("expected") as e:
        xe = gn.input("x", (2, 3))
        ae = gn.exp(xe * 2.0)
        e.output("out", ae + ae)
    got = run_pass(g, "cse", out=out)
    assert_structure(got, e)
    assert len(got.nodes) == 3 and len(got.const_values) == 1, got
    x_ = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(evaluate(got, x=x_)["out"], 2 * np.exp(2 * x_), rtol=1e-6)
    (kept,) = [n for n in got.nodes if n.op == "exp"]
    assert kept.prov.locations == a.producer.prov.locations | b.producer.prov.locations
    assert [f["pattern"] for f in got.report.record("cse").fired] == ["common subexpression"] * 2


def test_different_attrs_or_inputs_stay_apart() -> None:
    with gn.Graph("g") as g:
        x, y = gn.input("x", (2, 3)), gn.input("y", (2, 3))
        out = gn.sum(x, axis=0) + gn.sum(x, axis=1)[0] + gn.sum(y, axis=0) + gn.softmax(x, 0) [0] + gn.softmax(x, 1)[0]
    got = run_pass(g, "cse", out=out)
    assert ops(got).count("sum") == 3 and ops(got).count("softmax") == 2


def test_constants_with_different_dtype_or_value_stay_apart() -> None:
    with gn.Graph("g") as g:
        x, k = gn.input("x", (3,)), gn.input("k", (3,), "int32")
        out = x * 2.0 + x * 3.0
        kout = k * 2
    got = run_pass(g, "cse", out=out, kout=kout)
    assert len(got.const_values) == 3 and len(got.nodes) == 4
