"""merge_scans (run at the end of autodiff): a differentiated forward scan runs once, as the copy its gradient
extended with residuals; results against a NumPy loop and finite differences."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.passes.scan_merging import merge_scans


def _graph() -> tuple[gn.Graph, dict]:
    with gn.Graph("s") as g:
        x = gn.input("x", (5, 2, 3), "float64")
        w = gn.input("w", (3, 3), "float64")
        h, ys = gn.scan(lambda h, xt: (gn.tanh(h @ w + xt), gn.sigmoid(h)), x[0] * 0.0, x)
        loss = gn.sum(ys * ys) + gn.sum(h)
        (gw,) = gn.grad(loss, [w])
    return g, {"loss": loss, "gw": gw}


def test_forward_scan_runs_once_and_results_match_the_unmerged_graph() -> None:
    g, outs = _graph()
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((5, 2, 3)), "w": rng.standard_normal((3, 3))}
    merged = gn.compile(g, outputs=outs)
    scans = [n for n in merged.graph.nodes if n.op == "scan"]
    assert len(scans) == 2 and scans[0].attrs["n_res"] > 0  # the forward keeps residuals; the backward reads them
    assert any(v.id in {o.id for o in scans[0].outputs} for v in scans[1].inputs)
    h, total = np.zeros((2, 3)), 0.0
    for t in range(5):
        total += np.sum((1 / (1 + np.exp(-h))) ** 2)
        h = np.tanh(h @ feeds["w"] + feeds["x"][t])
    np.testing.assert_allclose(merged(**feeds)["loss"], total + h.sum(), rtol=1e-12)

    def loss_of(x: gn.Value, w: gn.Value) -> gn.Value:
        h, ys = gn.scan(lambda h, xt: (gn.tanh(h @ w + xt), gn.sigmoid(h)), x[0] * 0.0, x)
        return gn.sum(ys * ys) + gn.sum(h)

    assert max(gn.check_grad(loss_of, feeds["x"], feeds["w"], tol=1e-6).errors.values()) < 1e-6


def test_merge_is_a_no_op_without_extended_scans() -> None:
    with gn.Graph("s") as g:
        x = gn.input("x", (4, 2), "float32")
        gn.scan(lambda c, xt: (c + xt, c), x[0], x)
    n = len(g.nodes)
    assert merge_scans(g) is g and len(g.nodes) == n


def test_scans_whose_saved_carries_nobody_reads_do_not_keep_them() -> None:
    g, outs = _graph()
    fn = gn.compile(g, outputs=outs)
    fwd, bwd = [n for n in fn.graph.nodes if n.op == "scan"]
    assert fwd.attrs["keep_saved"] is True  # its backward reads them
    assert bwd.attrs["keep_saved"] is False  # nothing differentiates the backward
    assert g.nodes[[n.op for n in g.nodes].index("scan")].attrs.get("keep_saved", True)  # the user's graph untouched
    with gn.Graph("inference") as h:  # no gradient anywhere: the forward stacks nothing it does not return
        x = gn.input("x", (5, 2, 3), "float64")
        c, ys = gn.scan(lambda c, xt: (gn.tanh(c + xt), c), x[0], x)
    infer = gn.compile(h, outputs={"c": c, "ys": ys})
    assert [n.attrs["keep_saved"] for n in infer.graph.nodes if n.op == "scan"] == [False]
    X = np.random.default_rng(1).standard_normal((5, 2, 3))
    ref, refs = X[0], []
    for t in range(5):
        refs.append(ref)
        ref = np.tanh(ref + X[t])
    out = infer(x=X)
    np.testing.assert_allclose(out["c"], ref, rtol=1e-12)
    np.testing.assert_allclose(out["ys"], np.stack(refs), rtol=1e-12)
