"""FLOPs and bytes from static types, bound by user dims or by feeds; checked against hand counts."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.viz.costs import bind_dims, graph_costs


def _mlp() -> tuple[gn.Graph, dict]:
    with gn.Graph("c") as g:
        x = gn.input("x", (None, 20))
        w = gn.param("w", (20, 7), init=np.zeros((20, 7), "float32"))
        h = x @ w
        r = gn.relu(h)
        s = gn.sum(r)
    return g, {"matmul": h.producer, "relu": r.producer, "sum": s.producer}


def test_costs_with_batch_bound_by_dims() -> None:
    g, n = _mlp()
    env = bind_dims(g, dims={"batch": 128})
    c = graph_costs(g, env)["nodes"]
    assert c[n["matmul"].id] == {"flops": 2 * 128 * 20 * 7, "bytes": 128 * 7 * 4}
    assert c[n["relu"].id] == {"flops": 128 * 7, "bytes": 128 * 7 * 4}
    assert c[n["sum"].id] == {"flops": 128 * 7, "bytes": 4}


def test_costs_bound_by_feeds_and_totals() -> None:
    g, _ = _mlp()
    env = bind_dims(g, feeds={"x": np.zeros((5, 20), "float32")})
    c = graph_costs(g, env)
    assert c["total_flops"] == 2 * 5 * 20 * 7 + 5 * 7 + 5 * 7
    assert c["total_bytes"] == 5 * 7 * 4 * 2 + 4
    assert c["param_bytes"] == 20 * 7 * 4 and c["unbound_nodes"] == 0


def test_unbound_dims_are_reported_not_guessed() -> None:
    g, n = _mlp()
    c = graph_costs(g, {})
    assert c["nodes"][n["matmul"].id]["flops"] is None and c["unbound_nodes"] == 3
