"""fn.profile and the viewer's cost annotations name, per convolution, its algorithm and layout and its FLOPs
(issue 16 item 4)."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.viz.costs import graph_costs


def _net() -> tuple[gn.Graph, gn.Value, gn.Value]:
    with gn.Graph("c") as g:
        x = gn.input("x", (None, 4, 9, 9), "float32")
        w = gn.param("w", (6, 2, 3, 3), init=np.ones((6, 2, 3, 3), np.float32))
        y = gn.conv2d(x, w, stride=2, padding=1, groups=2)
        loss = gn.sum(y * y)
        gn.grad(loss, [w])
    return g, y, loss


def test_cost_annotation_counts_conv_flops_and_names_the_algorithm() -> None:
    g, y, _ = _net()
    node = g.producer[y.id]
    costs = graph_costs(g, {g.inputs[0].shape[0]: 5})
    c = costs["nodes"][node.id]
    assert c["flops"] == 2 * 5 * 6 * 5 * 5 * (2 * 3 * 3)  # N * O * Ho * Wo outputs, each (C/groups)*kH*kW products
    assert "im2col GEMM" in c["algorithm"] and "NCHW" in c["algorithm"] and "groups 2" in c["algorithm"]


def test_profile_rows_of_convolutions_carry_gflops_and_algorithm() -> None:
    g, _, loss = _net()
    fn = gn.compile(g, outputs={"loss": loss}, updates={g.params[0]: g.params[0] - 0.0 * gn.grad(loss, g.params)[0]})
    prof = fn.profile({"x": np.ones((5, 4, 9, 9), np.float32)}, repeat=2)
    rows = {d["op"]: d for d in prof.as_dicts()}
    for op in ("conv2d", "conv2d_weight_grad"):
        assert rows[op]["gflops_per_s"] > 0 and "NCHW" in rows[op]["algorithm"]
    assert "GFLOP/s" in prof.table()
    assert "algorithm" not in rows["sum"]
