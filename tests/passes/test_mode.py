"""The mode pass: batch_norm and dropout lowered for graph.facts.mode, in place, keeping provenance and
scope, always before autodiff (even with passes="none" or a custom list)."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.passes.mode import lower_mode
from graphnn.passes.pipeline import resolve_passes


def _model():
    with gn.Graph("m") as g:
        x = gn.input("x", (None, 3), "float64")
        with g.name_scope("bn1"):
            gm = gn.param("gamma", (3,), "float64", init=gn.init.ones())
            bt = gn.param("beta", (3,), "float64", init=gn.init.zeros())
            rm = gn.state("rm", (3,), "float64", init=0.0)
            rv = gn.state("rv", (3,), "float64", init=1.0)
            bn = gn.batch_norm(x, gm, bt, rm, rv)
        h = gn.relu(gn.dropout(bn.y, 0.5))
    g.output("h", h)
    g.updates = {"rm": bn.running_mean, "rv": bn.running_var}
    return g, bn


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_lowering_structure(mode):
    g, bn = _model()
    g.facts.mode = mode
    work = lower_mode(g.copy())
    gn.verify(work)
    ops = [n.op for n in work.nodes]
    assert "batch_norm" not in ops
    fired = {f["pattern"] for f in work.facts.fired}
    if mode == "train":
        assert ops[0] == "batch_norm_train" and "dropout" in ops
        assert fired == {"batch_norm->train"}
        assert "rng_step" in work.updates and work.updates["rng_step"].producer.op == "add"
        assert work.updates["rm"].producer.op == "add"
    else:
        assert ops == ["batch_norm_infer", "relu"]
        assert fired == {"batch_norm->eval", "dropout->eval"}
        assert work.updates["rm"] is work.param("rm") and "rng_step" not in work.updates
    low = work.nodes[0]
    assert low.scope == "bn1" and bn.y.producer.id in low.prov.derived_from and "mode" in low.prov.passes
    assert any("test_mode.py" in loc for loc in low.prov.locations)


def test_required_before_autodiff_in_every_pass_list():
    assert resolve_passes("training", "none") == ["mode", "autodiff"]
    assert resolve_passes("inference", ["dead_code"]) == ["mode", "autodiff", "dead_code"]
    for target in ("training", "inference", "export"):
        names = resolve_passes(target, "default")
        assert names.index("mode") < names.index("autodiff")


def test_passes_none_still_lowers_and_modes_differ():
    g, _ = _model()
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(16, 3))
    tr = gn.compile(g, passes="none", mode="train", validate=True)(x=X)["h"]
    ev = gn.compile(g, passes="none", mode="eval", validate=True)(x=X)["h"]
    # eval: running stats (0, 1) leave x unchanged before relu; train: batch-normalized, half dropped.
    np.testing.assert_allclose(ev, np.maximum(X / np.sqrt(1 + 1e-5), 0), rtol=1e-12)
    assert (tr == 0).mean() > 0.5 and abs(tr[tr > 0].mean() - 2 * 0.8) < 1.0


def test_unknown_mode_is_an_error():
    g, _ = _model()
    with pytest.raises(gn.GraphError, match="mode"):
        gn.compile(g, mode="test")
