"""The rewrite engine (graphnn/passes/pattern.py): matching on a root op and its inputs' producers, fixed
point, provenance and tags of new nodes, fired records, declined rules leaving no trace, and the guards."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.graph import Graph
from graphnn.passes.pattern import Match, Rule, rewrite, rule

from .util import evaluate, ops


@rule("neg(neg(x)) test", "neg", "neg", fused=True)
def _negneg(m: Match) -> gn.Value | None:
    return m.args[0].inputs[0]


@rule("exp(x) -> tanh(x) test", "exp", fused=True)
def _exp_to_tanh(m: Match) -> gn.Value | None:
    return gn.tanh(m.inputs[0])


def _graph() -> tuple[Graph, gn.Value]:
    with gn.Graph("g") as g:
        x = gn.input("x", (3,))
        out = gn.exp(-(-(-(-x))))
    g.outputs = {"out": out}
    return g, out


def test_rules_apply_to_a_fixed_point_with_records_tags_and_provenance() -> None:
    g, out = _graph()
    originals = {n.id: n for n in g.nodes}
    h = rewrite(g.copy(), [_negneg, _exp_to_tanh], "test")
    assert ops(h) == ["tanh"]
    (t,) = h.nodes
    assert "fused" in t.tags and t.prov.passes == ("test",) and t.prov.derived_from == {out.producer.id}
    fired = h.facts.fired
    assert [f["pattern"] for f in fired].count("neg(neg(x)) test") == 2
    assert fired[-1]["pattern"] == "exp(x) -> tanh(x) test" and fired[-1]["matched"] == [out.producer.id]
    assert fired[-1]["added"] == [t.id] and fired[-1]["location"] == out.producer.location
    assert all(set(f["matched"]) <= set(originals) for f in fired[:2])
    np.testing.assert_allclose(evaluate(h, x=np.array([0.5, -1.0, 2.0], np.float32))["out"],
                               np.tanh([0.5, -1.0, 2.0]), rtol=1e-6)


def test_declined_rule_leaves_no_trace() -> None:
    def build_then_decline(m: Match) -> gn.Value | None:
        gn.sigmoid(m.inputs[0] * 3.0)  # builds nodes and a constant, then declines
        return None

    g, _ = _graph()
    n_nodes, n_consts = len(g.nodes), len(g.const_values)
    h = rewrite(g, [Rule("declines", "neg", build_then_decline)], "test")
    assert len(h.nodes) == n_nodes and len(h.const_values) == n_consts and not h.facts.fired
    gn.verify(h)


def test_rule_that_changes_the_type_is_refused() -> None:
    g, _ = _graph()
    bad = Rule("bad", "exp", lambda m: gn.sum(m.inputs[0]))
    with pytest.raises(gn.GraphError, match="not type-preserving"):
        rewrite(g, [bad], "test")


def test_rule_that_never_settles_is_an_error() -> None:
    g, _ = _graph()
    flip = Rule("flip", "exp", lambda m: gn.exp(m.inputs[0] * 1.0))
    with pytest.raises(gn.GraphError, match="no fixed point"):
        rewrite(g, [flip], "test")
