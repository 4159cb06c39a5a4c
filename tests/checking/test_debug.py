"""check_numerics: the first non-finite node is named with its inputs' statistics; a fused node is replayed
from the ops it was fused from, naming the original sub-op."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.numpy import KERNELS
from graphnn.ir.graph import Provenance
from graphnn.ir.op import Op
from graphnn.ir.op_registry import registry
from graphnn.passes import pipeline


def test_names_first_nonfinite_node_and_input_stats() -> None:
    with gn.Graph("nan") as g:
        x = gn.input("x", (None, 3))
        h = x - 1.0
        y = gn.log(h)  # line of the culprit
        z = gn.exp(y)  # also NaN, but later: must not be the one named
    fn = gn.compile(g, outputs={"z": z}, passes="none", check_numerics=True)  # unfused
    X = np.array([[2.0, 0.5, 3.0], [1.5, 4.0, 0.25]], np.float32)
    with pytest.raises(gn.NumericsError) as ei:
        fn(x=X)
    msg = str(ei.value)
    assert f"op log) at {y.producer.location}" in msg and "test_debug.py" in y.producer.location
    hv = X - 1
    assert f"min={hv.min():.4g} max={hv.max():.4g}" in msg and "nan=0" in msg
    assert "2 NaN" in msg  # two entries of x - 1 are negative
    assert ei.value.node.op == "log"


def test_elementwise_fusion_is_replayed_to_the_original_line() -> None:
    with gn.Graph("nan") as g:
        x = gn.input("x", (None, 3))
        h = x - 1.0
        y = gn.log(h)
        z = gn.exp(y) * 2.0
    fn = gn.compile(g, outputs={"z": z}, check_numerics=True)
    fused = [n for n in fn.graph.nodes if n.op == "fused_elementwise"]
    assert len(fused) == 1, [n.op for n in fn.graph.nodes]  # sub, log, exp and mul fuse into one node
    with pytest.raises(gn.NumericsError) as ei:
        fn(x=np.array([[2.0, 0.5, 3.0]], np.float32))
    msg = str(ei.value)
    assert "op fused_elementwise" in msg and "x: float32[1,3] min=0.5 max=3" in msg
    where = f"first non-finite sub-op is log ({y.name}) at {y.producer.location}"
    assert f"replayed in float32: {where}" in msg and f"replayed in float64: {where}" in msg


def _fuse_exp_log(g: gn.Graph) -> gn.Graph:
    """A test pass: replace log(exp(x)) by one fused node whose provenance lists both originals."""
    for n in list(g.nodes):
        if n.op != "log" or n.inputs[0].producer is None or n.inputs[0].producer.op != "exp":
            continue
        e = n.inputs[0].producer
        prov = Provenance(n.prov.locations | e.prov.locations, derived_from=frozenset({e.id, n.id}),
                          passes=("test_fuse",))
        idx = g.nodes.index(n)
        f = g.add_node("fused_logexp", (e.inputs[0],), [n.outputs[0].type], {}, prov, tags=frozenset({"fused"}))
        g.nodes.remove(f)
        g.nodes[idx] = f
        g.nodes.remove(e)
        g.outputs = {k: (f.outputs[0] if v is n.outputs[0] else v) for k, v in g.outputs.items()}
    return g


def test_fused_node_is_replayed_to_name_the_sub_op(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = registry()
    monkeypatch.setitem(reg, "fused_logexp", Op("fused_logexp", lambda ctx, t, a: [t[0]], 1))
    monkeypatch.setitem(KERNELS, "fused_logexp", lambda xp, node, env: lambda x: xp.log(xp.exp(x)))
    monkeypatch.setitem(pipeline.PASSES, "test_fuse", _fuse_exp_log)
    with gn.Graph("fuse") as g:
        x = gn.input("x", (4,))
        e = gn.exp(x)
        y = gn.log(e)
    fn = gn.compile(g, outputs={"y": y}, passes=["test_fuse"], check_numerics=True)
    assert [n.op for n in fn.graph.nodes] == ["fused_logexp"]
    with pytest.raises(gn.NumericsError) as ei:
        fn(x=np.array([1.0, 2.0, 100.0, 3.0], np.float32))  # exp(100) overflows float32, not float64
    msg = str(ei.value)
    assert "op fused_logexp" in msg
    assert f"first non-finite sub-op is exp ({e.name}) at {e.producer.location}" in msg
    assert "replayed in float64: every sub-op is finite" in msg


def test_finite_run_is_unchanged() -> None:
    with gn.Graph("ok") as g:
        x = gn.input("x", (3,))
        y = gn.exp(x)
    fn = gn.compile(g, outputs={"y": y}, check_numerics=True)
    X = np.array([0.0, 1.0, 2.0], np.float32)
    np.testing.assert_allclose(fn(x=X)["y"], np.exp(X), rtol=1e-6)
