"""The viewer at real-model scale, in headless Chromium: the page of a training step is small and grows linearly,
opens with top-level layers collapsed and every visible label readable, expands a layer in place (laying out only
what changed), folds identical blocks into ×N, sets backward groups beside their forward layer, and search, the
gradient-flow overlay, NaN localization and pass views work at the layer level. Screenshots of the initial and an
expanded view go to artifacts/viz/ (and, with GN_VIZ_DOCS=1, to docs/img/ for docs/viz.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest

import graphnn as gn
from graphnn.viz.browser import Browser, find_chromium
from graphnn.viz.html import read_page_data

from .nets import residual_cnn, resnet50

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="no chromium binary (Debian: apt-get install -y chromium)")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "viz"
LIGHT_RESNET = Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"
MB = 1 << 20

VISIBLE_TEXT_HEIGHTS = """(() => { const c = document.getElementById('canvas').getBoundingClientRect();
  return Array.from(document.querySelectorAll('#viewport text')).filter(t => getComputedStyle(t).display !== 'none')
    .map(t => t.getBoundingClientRect()).filter(r => r.width > 0 && r.bottom > c.top && r.top < c.bottom
    && r.right > c.left && r.left < c.right).map(r => r.height); })()"""


OVERLAPS = """(() => { const r = Array.from(document.querySelectorAll('#viewport .box')).map(e => [e.dataset.key,
  e.querySelector('rect').getBoundingClientRect()]), bad = [];
  for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) { const a = r[i][1], b = r[j][1];
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
      bad.push([r[i][0], r[j][0]]); }
  return bad.slice(0, 5); })()"""


def _shot(b: Browser, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = ARTIFACTS / name
    b.screenshot(out)
    if os.environ.get("GN_VIZ_DOCS") == "1":
        b.screenshot(ROOT / "docs" / "img" / name)
    return out


def _box(b: Browser, key: str) -> dict | None:
    r = b.eval(f"(() => {{ const e = document.querySelector('#viewport [data-key=\"{key}\"]'); if (!e) return null;"
               " const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height,"
               " cls: e.getAttribute('class'), text: e.textContent}; })()")
    return r


def _click(b: Browser, key: str) -> None:
    r = _box(b, key)
    if r is not None and not b.eval("(() => { const c = document.getElementById('canvas').getBoundingClientRect();"
                                    f" const r = document.querySelector('#viewport [data-key=\"{key}\"]').getBoundingClientRect();"
                                    " return r.left >= c.left && r.top >= c.top && r.top + 20 <= c.bottom; })()"):
        b.eval(f"GN.center('{key}')")
        r = _box(b, key)
    assert r is not None, f"no box {key} on screen"
    b.click(r["x"] + r["w"] / 2, r["y"] + min(r["h"] / 2, 10))


def _open_readable(b: Browser, page: Path) -> tuple[float, list[float]]:
    b.open(page)
    assert b.eval("document.body.getAttribute('data-error')") is None
    return b.eval("window.gnReadyMs"), b.eval(VISIBLE_TEXT_HEIGHTS)


@pytest.fixture(scope="module")
def res8() -> gn.Function:
    return residual_cnn(8)


def test_residual_cnn_step_opens_collapsed_readable_and_expands_in_place(tmp_path, res8) -> None:
    page = gn.viz.save_html(res8, tmp_path / "res.html", dims={"batch": 32})
    size = Path(page).stat().st_size
    assert size <= 2 * MB, f"page is {size / MB:.2f} MB"
    data = read_page_data(page)
    n_boxes = len(data["graphs"][0]["n"])
    assert n_boxes > len(res8.graph.nodes) > 600
    block_params = sum(int(np.prod(p.shape)) for p in res8.graph.params if p.name.split("/")[0].startswith("block"))
    assert block_params == 8 * (2 * (16 * 16 * 9 + 16) + 2 * 2 * 16)  # independent count of the 8 blocks' params
    with Browser(1400, 900) as b:
        ready_ms, heights = _open_readable(b, page)
        assert heights and min(heights) >= 9, f"smallest visible label {min(heights):.1f}px"
        shown = b.eval("document.querySelectorAll('#viewport .box').length")
        assert 5 <= shown <= 40  # top-level layers, not 1,300 boxes
        # the eight identical residual blocks fold into one ×8 box showing their parameters and FLOPs
        series = b.eval("Array.from(document.querySelectorAll('.box.series')).map(e => [e.dataset.key, e.textContent])")
        fwd = [(k, t) for k, t in series if t.startswith("block ×8")]
        bwd = [(k, t) for k, t in series if t.startswith("∇ block ×8")]
        assert fwd and bwd, series
        assert "37.6k params" in fwd[0][1] and "FLOP" in fwd[0][1] and "need --dims" not in fwd[0][1]
        assert "float32[batch=32,16,8,8]" in fwd[0][1]
        # the backward blocks sit beside the forward blocks (same row, to the side)
        f, g = _box(b, fwd[0][0]), _box(b, bwd[0][0])
        assert abs((f["y"] + f["h"] / 2) - (g["y"] + g["h"] / 2)) < 1 and g["x"] > f["x"] + f["w"]
        _shot(b, "viz_resnet_initial.png")
        # a click unfolds the series, a second click expands one block in place
        _click(b, fwd[0][0])
        assert _box(b, "g:block_3") is not None and _box(b, "g:block_3/conv2d") is None
        before = b.eval("GN.layouts")
        _click(b, "g:block_3")
        assert _box(b, "g:block_3/conv2d") is not None and _box(b, "g:block_3/batch_norm2d_1") is not None
        assert b.eval("GN.layouts") - before <= 3  # block_3 itself and its parent: not the whole graph
        fr = _box(b, "g:block_3")
        assert fr is not None and "frame" in fr["cls"]
        same = b.eval("Array.from(document.querySelectorAll('#viewport .box.same')).map(e => e.dataset.key)")
        assert sorted(same) == sorted([f"g:block_{i}" for i in range(1, 8) if i != 3] + ["g:block"])  # identical
        assert "identical layers" in b.eval("document.getElementById('detail').innerText")
        assert b.eval("GN.model().groups['block_5']._lay") is None  # collapsed layers are never laid out
        _shot(b, "viz_resnet_expanded.png")
        _click(b, "g:block_3")  # clicking the open frame closes it again
        assert _box(b, "g:block_3/conv2d") is None
        # forward / backward / updates hide and show
        for box, cls in (("t-backward", "c-bwd"), ("t-update", "c-upd")):
            b.eval(f"document.getElementById('{box}').click()")
            assert b.eval(f"document.querySelectorAll('#viewport .box.{cls}').length") == 0
            b.eval(f"document.getElementById('{box}').click()")
            assert b.eval(f"document.querySelectorAll('#viewport .box.{cls}').length") > 0
        # expand all / collapse all
        b.eval("document.getElementById('expand-all').click()")
        assert b.eval("document.querySelectorAll('#viewport .box.node').length") == n_boxes
        assert b.eval(OVERLAPS) == []  # the page's layered layout keeps every box apart, checked geometrically
        b.eval("document.getElementById('collapse-all').click()")
        assert b.eval("document.querySelectorAll('#viewport .box').length") <= shown
        # search finds a node inside a collapsed layer and opens the path to it
        conv = next(n for n in res8.graph.nodes if n.scope == "block_5/conv2d_1" and n.op == "conv2d")
        b.eval(f"var s=document.getElementById('search'); s.value='{conv.name}'; s.dispatchEvent(new Event('input'))")
        assert "match-in" in _box(b, fwd[0][0])["cls"]
        b.eval("document.getElementById('search').focus()")
        b.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13)
        hit = _box(b, f"n{conv.id}")
        assert hit is not None and "sel" in hit["cls"]
        assert b.eval("document.getElementById('dtable').dataset.key") == f"n{conv.id}"
        assert conv.location in b.eval("document.getElementById('detail').innerText")
        assert b.errors() == []
    (ARTIFACTS / "scale.json").write_text(json.dumps({"residual_cnn8": {
        "html_bytes": size, "boxes": n_boxes, "ready_ms": ready_ms, "min_label_px": min(heights)}}, indent=1))


def test_page_size_grows_linearly(tmp_path) -> None:
    sizes = {}
    for blocks in (4, 8, 16):
        fn = residual_cnn(blocks)
        page = gn.viz.save_html(fn, tmp_path / f"r{blocks}.html")
        sizes[blocks] = (Path(page).stat().st_size, len(fn.graph.nodes))
    per = {k: s / n for k, (s, n) in sizes.items()}
    assert per[16] <= 1.15 * per[8] and per[8] <= 1.15 * per[4], per  # bytes per node do not grow with the graph
    assert sizes[16][0] < 2 * MB


def test_resnet50_sized_step_opens_readable(tmp_path) -> None:
    fn = resnet50()
    assert len([n for n in fn.graph.nodes if n.op == "conv2d" and "backward" not in n.tags]) == 53
    page = gn.viz.save_html(fn, tmp_path / "r50.html", dims={"batch": 8})
    size = Path(page).stat().st_size
    assert size <= 2 * MB, f"page is {size / MB:.2f} MB"
    with Browser(1400, 900) as b:
        ready_ms, heights = _open_readable(b, page)
        assert heights and min(heights) >= 9
        assert b.eval("document.querySelectorAll('#viewport .box').length") <= 60
        _click(b, "g:stage_2")
        assert b.eval(OVERLAPS) == []
        stage2 = b.eval("Array.from(document.querySelectorAll('.box.series')).map(e => e.textContent)"
                        ".filter(t => t.startsWith('bottleneck ×'))")
        assert any(t.startswith("bottleneck ×5") for t in stage2), stage2  # 6 blocks: 1 projecting + 5 identical
        assert b.errors() == []
        _shot(b, "viz_resnet50_stage.png")
    prev = json.loads((ARTIFACTS / "scale.json").read_text()) if (ARTIFACTS / "scale.json").exists() else {}
    prev["resnet50_sized"] = {"html_bytes": size, "boxes": len(read_page_data(page)["graphs"][0]["n"]),
                              "ready_ms": ready_ms, "min_label_px": min(heights)}
    (ARTIFACTS / "scale.json").write_text(json.dumps(prev, indent=1))


def test_light_resnet50_from_onnx_and_its_training_step(tmp_path) -> None:
    """onnx's own light ResNet-50 opens legibly as imported, and so does its Adam training step (2 MB at most)."""
    g = gn.onnx.load(str(LIGHT_RESNET))
    page = gn.viz.save_html(g, tmp_path / "light_resnet50.html")
    assert Path(page).stat().st_size <= 2 * MB
    with Browser(1400, 900) as b:
        _, heights = _open_readable(b, page)
        assert heights and min(heights) >= 9
        assert b.errors() == []
    (out,) = g.outputs.values()
    with g:
        loss = gn.mean(out * out)
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.Adam(1e-3).updates(loss, g.params))
    page = gn.viz.save_html(fn, tmp_path / "light_resnet50_step.html")
    size = Path(page).stat().st_size
    assert size <= 2 * MB, f"page is {size / MB:.2f} MB"
    with Browser(1400, 900) as b:
        ready_ms, heights = _open_readable(b, page)
        assert heights and min(heights) >= 9
        assert b.errors() == []
    prev = json.loads((ARTIFACTS / "scale.json").read_text()) if (ARTIFACTS / "scale.json").exists() else {}
    prev["light_resnet50_step"] = {"html_bytes": size, "boxes": len(read_page_data(page)["graphs"][0]["n"]),
                                   "ready_ms": ready_ms, "min_label_px": min(heights)}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "scale.json").write_text(json.dumps(prev, indent=1))
