"""The page in a real browser (headless Chromium over the DevTools pipe): layers open collapsed and "expand all"
draws one SVG element per box, no console errors, clicking a node fills the detail panel, search/toggles/pass views
work; saves a screenshot to artifacts/viz/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import graphnn as gn
from graphnn.viz.browser import Browser, find_chromium
from graphnn.viz.html import read_page_data
from graphnn.viz.model import build

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="no chromium binary (Debian: apt-get install -y chromium)")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "viz"


def _new_ops(page: Path, title: str) -> set[str]:
    data = read_page_data(page)
    i = next(i for i, v in enumerate(data["views"]) if v["title"].endswith(title))
    ops = [{data["keys"][j] for j in data["graphs"][v["graph"]]["n"] if data["nodes"][j]["k"] == "op"}
           for v in data["views"][i - 1:i + 1]]
    return ops[1] - ops[0]


def test_page_in_headless_chromium(tmp_path, mlp_fn, feeds) -> None:
    page = gn.viz.save_html(mlp_fn, tmp_path / "mlp.html", feeds=feeds,
                            profile=[{"name": mlp_fn.graph.nodes[0].name, "op": mlp_fn.graph.nodes[0].op, "share": 1.0}])
    boxes = build(mlp_fn.graph).nodes
    mm = next(n for n in mlp_fn.graph.nodes if n.op == "matmul" and "backward" not in n.tags)
    with Browser(1400, 900) as b:
        b.open(page)
        closed = b.eval("document.querySelectorAll('#viewport .box').length")
        assert b.eval("document.querySelectorAll('#viewport .box.grp').length") >= 3  # layer1..3, loss, sgd
        b.eval("document.getElementById('expand-all').click()")
        assert b.eval("document.querySelectorAll('#viewport .box.node').length") == len(boxes) > closed
        assert b.eval("document.querySelectorAll('#viewport .box.node rect').length") == len(boxes)
        # a real click on the matmul's box, at its on-screen centre
        b.eval(f"GN.center('n{mm.id}')")
        r = b.eval(f"JSON.stringify(document.querySelector('#viewport .node[data-key=\"n{mm.id}\"]')"
                   ".getBoundingClientRect())")
        r = json.loads(r)
        assert r["width"] > 0 and r["height"] > 0
        b.click(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
        panel = b.eval("document.getElementById('detail').innerText")
        assert "matmul" in panel and mm.location in panel and "FLOPs" in panel and mm.name in panel
        assert b.eval("document.getElementById('dtable').dataset.key") == f"n{mm.id}"
        # search by name highlights matches
        b.eval("var s=document.getElementById('search'); s.value='w1'; s.dispatchEvent(new Event('input'))")
        hits = b.eval("Array.from(document.querySelectorAll('#viewport .node.match')).map(n=>n.dataset.key)")
        want = {k for k, n in boxes.items() if "w1" in n.info.get("name", "")}
        assert set(hits) == want and want
        # the backward toggle hides every backward box
        b.eval("document.getElementById('t-backward').click()")
        assert b.eval("document.querySelectorAll('#viewport .node.backward').length") == 0
        assert b.eval("document.querySelectorAll('#viewport .node').length") > 0
        b.eval("document.getElementById('t-backward').click()")
        # a pass view highlights what the pass added
        b.eval("var v=document.getElementById('viewsel'); v.value=String(Array.from(v.options)"
               ".findIndex(o=>o.text.endsWith('autodiff: after'))); v.dispatchEvent(new Event('change'))")
        # collapsed layers holding added nodes are marked; expanded, the nodes themselves are
        assert b.eval("document.querySelectorAll('#viewport .box.hl-added, #viewport .box.hl-added-in').length") > 0
        b.eval("document.getElementById('expand-all').click()")
        added = b.eval("Array.from(document.querySelectorAll('#viewport .node.hl-added')).map(n=>n.dataset.key)")
        assert set(added) == _new_ops(page, "autodiff: after") and added
        n_views = b.eval("document.getElementById('viewsel').options.length")
        for i in range(n_views):  # every view (split, each pass before/after) shows and fits without errors
            b.eval(f"var v=document.getElementById('viewsel'); v.value='{i}'; v.dispatchEvent(new Event('change'))")
            assert b.eval("document.querySelectorAll('#viewport .box').length") > 0
            assert b.eval("document.getElementById('viewport').getBBox().width") > 0
        b.eval("var v=document.getElementById('viewsel'); v.value='0'; v.dispatchEvent(new Event('change'))")
        assert b.eval("document.querySelector('#profile table') !== null")
        assert b.errors() == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        b.screenshot(ARTIFACTS / "mlp.png")
    assert (ARTIFACTS / "mlp.png").stat().st_size > 10_000
