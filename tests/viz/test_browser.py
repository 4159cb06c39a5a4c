"""The page in a real browser (headless Chromium over the DevTools pipe): one SVG element per box, no
console errors, clicking a node fills the detail panel, search/toggles/pass views work; saves a screenshot
to artifacts/viz/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import graphnn as gn
from graphnn.viz.browser import Browser, find_chromium
from graphnn.viz.model import build

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="no chromium binary (Debian: apt-get install -y chromium)")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "viz"


def _new_ops(page: Path, title: str) -> set[str]:
    html = Path(page).read_text()
    data = json.loads(html.split('<script id="gn-data" type="application/json">')[1].split("</script>")[0])
    i = next(i for i, v in enumerate(data["views"]) if v["title"].endswith(title))
    ops = [{k for k, n in data["graphs"][v["graph"]]["nodes"].items() if n["kind"] == "op"}
           for v in data["views"][i - 1:i + 1]]
    return ops[1] - ops[0]


def test_page_in_headless_chromium(tmp_path, mlp_fn, feeds) -> None:
    page = gn.viz.save_html(mlp_fn, tmp_path / "mlp.html", feeds=feeds,
                            profile=[{"name": mlp_fn.graph.nodes[0].name, "op": mlp_fn.graph.nodes[0].op, "share": 1.0}])
    boxes = build(mlp_fn.graph).nodes
    mm = next(n for n in mlp_fn.graph.nodes if n.op == "matmul" and "backward" not in n.tags)
    with Browser(1400, 900) as b:
        b.open(page)
        assert b.eval("document.querySelectorAll('#view0 .node').length") == len(boxes)
        assert b.eval("document.querySelectorAll('#view0 .node rect').length") == len(boxes)
        # a real click on the matmul's box, at its on-screen centre
        r = b.eval(f"JSON.stringify(document.querySelector('#view0 .node[data-key=\"n{mm.id}\"]')"
                   ".getBoundingClientRect())")
        r = json.loads(r)
        assert r["width"] > 0 and r["height"] > 0
        b.click(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
        panel = b.eval("document.getElementById('detail').innerText")
        assert "matmul" in panel and mm.location in panel and "FLOPs" in panel and mm.name in panel
        assert b.eval("document.getElementById('dtable').dataset.key") == f"n{mm.id}"
        # search by name highlights matches
        b.eval("var s=document.getElementById('search'); s.value='w1'; s.dispatchEvent(new Event('input'))")
        hits = b.eval("Array.from(document.querySelectorAll('#view0 .node.match')).map(n=>n.dataset.key)")
        want = {k for k, n in boxes.items() if "w1" in n.info.get("name", "")}
        assert set(hits) == want and want
        # the backward toggle hides every backward box
        b.eval("document.getElementById('t-backward').click()")
        shown = b.eval("Array.from(document.querySelectorAll('#view0 .node.backward'))"
                       ".filter(n=>getComputedStyle(n).display!=='none').length")
        assert shown == 0
        b.eval("document.getElementById('t-backward').click()")
        # a pass view highlights what the pass added
        b.eval("var v=document.getElementById('viewsel'); v.value=String(Array.from(v.options)"
               ".findIndex(o=>o.text.endsWith('autodiff: after'))); v.dispatchEvent(new Event('change'))")
        added = b.eval("Array.from(document.querySelectorAll('.view.on .node.hl-added')).map(n=>n.dataset.key)")
        assert set(added) == _new_ops(page, "autodiff: after") and added
        n_views = b.eval("document.getElementById('viewsel').options.length")
        for i in range(n_views):  # every view (split, each pass before/after) shows and fits without errors
            b.eval(f"var v=document.getElementById('viewsel'); v.value='{i}'; v.dispatchEvent(new Event('change'))")
            assert b.eval("document.querySelectorAll('.view.on').length") == 1
            assert b.eval("document.querySelector('.view.on').getBBox().width") > 0
        b.eval("var v=document.getElementById('viewsel'); v.value='0'; v.dispatchEvent(new Event('change'))")
        assert b.eval("document.querySelector('#profile table') !== null")
        assert b.errors() == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        b.screenshot(ARTIFACTS / "mlp.png")
    assert (ARTIFACTS / "mlp.png").stat().st_size > 10_000
