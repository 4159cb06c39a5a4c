"""save_html: one self-contained file (no network) holding a model of every box (the page draws them), pass-by-pass
views with the changed nodes and stability diagnostics attached, costs and the profile table in the page data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import graphnn as gn
from graphnn.viz.demo import demo_mlp
from graphnn.viz.html import page_data, read_page_data
from graphnn.viz.model import build


def _boxes(data: dict, gi: int) -> dict[str, dict]:
    """Box key -> its entry, for drawn graph `gi`."""
    return {data["keys"][i]: data["nodes"][i] for i in data["graphs"][gi]["n"]}


def test_page_is_self_contained_and_complete(tmp_path, mlp_fn, feeds) -> None:
    path = gn.viz.save_html(mlp_fn, tmp_path / "mlp.html", feeds=feeds)
    html = Path(path).read_text(encoding="utf-8")
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html) and "@import" not in html
    assert "<script src" not in html and "<link" not in html
    n_boxes = len(build(mlp_fn.graph).nodes)
    data = read_page_data(path)
    assert len(data["graphs"][0]["n"]) == n_boxes
    assert {data["keys"][i] for i in data["graphs"][0]["n"]} == set(build(mlp_fn.graph).nodes)
    titles = [v["title"] for v in data["views"]]
    assert titles[0] == "graph: mlp"
    rec = mlp_fn.report().records
    assert len(titles) == 1 + 2 * len(rec)
    assert titles[1:3] == [f"pass 1 {rec[0].name}: before", f"pass 1 {rec[0].name}: after"]
    views = data["views"]
    ops = [{k for k, n in _boxes(data, v["graph"]).items() if n["k"] == "op"} for v in views]
    for i, v in enumerate(views):  # highlighted = op boxes that a pass added (after) or removed (before)
        if v["title"].endswith(": after"):
            assert set(v["highlight"]) == ops[i] - ops[i - 1]
            assert set(views[i - 1]["highlight"]) == ops[i - 1] - ops[i]
    assert any(v["highlight"] for v in views)
    assert data["dims"] and list(data["dims"].values()) == [32]
    plan = mlp_fn.plan_for(dict(data["dims"]))
    assert plan.memory is not None  # the NumPy runtime plans memory: its peak is in the totals
    assert data["graphs"][0]["totals"]["memory_peak"] == plan.memory.peak_bytes > 0
    assert "memory plan peak" in data["graphs"][0]["totals"]["text"]
    mm = next(n for n in mlp_fn.graph.nodes if n.op == "matmul" and "backward" not in n.tags)
    info = _boxes(data, 0)[f"n{mm.id}"]
    assert info["flops"] == 2 * 32 * mm.inputs[0].shape[1] * mm.outputs[0].shape[1]
    assert data["texts"][info["loc"]] == mm.location and info["op"] == "matmul"
    assert data["texts"][info["p"]] == mm.scope == "layer1"  # grouped by its name scope


def test_backward_nodes_link_to_their_forward_node(mlp_fn) -> None:
    data = page_data(mlp_fn)
    nodes = _boxes(data, 0)
    forward = {n.id for n in mlp_fn.graph.nodes if "backward" not in n.tags}
    back = [n for n in mlp_fn.graph.nodes if "backward" in n.tags and n.prov.derived_from]
    assert back
    linked = 0
    for n in back:
        assert nodes[f"n{n.id}"]["der"] == [f"n{i}" for i in sorted(n.prov.derived_from)]
        # each backward node leads to a forward box on the page, or (its forward node fused away) names its origin
        present = [i for i in n.prov.derived_from if i in forward]
        assert present or nodes[f"n{n.id}"].get("origins"), f"{n.name} links to no forward node"
        linked += bool(present)
    assert linked > 0


def test_diagnostics_and_profile_reach_the_page() -> None:
    g, parts = demo_mlp(sizes=(8, 6, 4, 3))
    fn = gn.compile(g, outputs={"loss": parts["loss"]}, updates=parts["updates"])
    diags = fn.report().diagnostics
    assert diags, "softmax + cross_entropy must be reported as a fixed stability diagnostic"
    ce = parts["loss"].producer
    rng = np.random.default_rng(0)
    prof = fn.profile({"x": rng.standard_normal((4, 8)).astype("float32"), "y": rng.integers(0, 3, 4)}, repeat=2)
    data = page_data(fn, profile=prof)
    # the diagnostic sits at the naive cross_entropy in the view before the pass that fixed it ...
    before = [v for v in data["views"] if v.get("pass") and v["title"].endswith("before") and f"n{ce.id}" in v["diag"]]
    assert before and before[0]["diag"][f"n{ce.id}"][0]["pattern"] == diags[0]["pattern"]
    # ... and at its replacement in the final graph
    main = data["views"][0]["diag"]
    assert main and all(_boxes(data, 0)[k]["op"] != "cross_entropy" for k in main)
    names = {n.name: f"n{n.id}" for n in fn.graph.nodes}
    assert {r["node"] for r in data["profile"]} == {n.name for n in fn.graph.nodes} - {""}
    assert all(r["key"] == names[r["node"]] for r in data["profile"])
