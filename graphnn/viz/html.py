"""`save_html`: one self-contained page (inline SVG, CSS and JS, no network) showing a graph or a compiled
function: main view, forward|backward side by side, the pass-by-pass pipeline, costs, gradient flow, profile.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from ..ir.graph import Graph
from ..passes.pipeline import run_pipeline
from .costs import bind_dims, human
from .model import DrawGraph, build
from .svg import lay_out, render

_ASSETS = Path(__file__).parent


def _pipeline(g: Graph, report: Any) -> tuple[Graph, Any, str]:
    """The optimized graph and a report with before/after graphs (runs the pipeline when needed)."""
    if report is not None and report.records and report.records[0].before is not None:
        return report.records[-1].after, report, ""
    has_grad = any(n.op == "grad" for n in g.nodes)
    if not (g.outputs or g.updates or has_grad):
        return g, None, ""
    target = report.target if report is not None else ("training" if g.updates or has_grad else "inference")
    passes = [r.name for r in report.records] if report is not None else "default"
    try:
        opt, rep = run_pipeline(g, target, passes, keep_graphs=True)
    except Exception as e:  # draw what we have; the page says why the pipeline view is missing
        return g, None, f"pipeline failed: {type(e).__name__}: {e}"
    return opt, rep, ""


def _diag_keys(g: Graph, diags: list[dict], rep: Any = None) -> dict[str, list[dict]]:
    """Diagnostics by box key: at the node they name, or (once a pass replaced it) at the nodes derived from it."""
    byname = {n.name: n.id for n in g.nodes}
    ids = {n.id for n in g.nodes}
    known: dict[str, int] = {}  # node name -> id in any snapshot (ids survive graph copies)
    for r in getattr(rep, "records", []) or []:
        if r.before is not None:
            known.update({n.name: n.id for n in r.before.nodes})
    out: dict[str, list[dict]] = {}
    for d in diags:
        node = d.get("node")
        nid = node if isinstance(node, int) else byname.get(str(node), known.get(str(node)))
        targets = [nid] if nid in ids else [n.id for n in g.nodes if nid in n.prov.derived_from]
        for t in targets:
            out.setdefault(f"n{t}", []).append({k: str(v) for k, v in d.items()})
    return out


def _graph_json(dg: DrawGraph) -> dict[str, Any]:
    return {"name": dg.name, "totals": {k: v for k, v in dg.totals.items() if k != "env"},
            "nodes": {k: dict(n.info, label=n.label, kind=n.kind, classes=sorted(n.classes))
                      for k, n in dg.nodes.items()}}


def _profile_rows(profile: Any, g: Graph) -> tuple[list[dict], str]:
    """fn.profile's table as rows (dicts; a row's "name" is linked to its box), else its text."""
    if profile is None:
        return [], ""
    rows = profile.as_dicts() if hasattr(profile, "as_dicts") else getattr(profile, "rows", profile)
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        byname = {n.name: f"n{n.id}" for n in g.nodes}
        out = []
        for r in rows:
            row = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in r.items()
                   if k not in ("members", "location")}  # the box's panel has both
            if isinstance(row.get("share"), float):
                row["share"] = f"{row['share'] * 100:.1f}%"
            if isinstance(row.get("us_per_run"), float):
                row["us_per_run"] = round(row["us_per_run"], 1)
            name = str(r.get("name", r.get("node")))
            if name in byname:
                row["key"] = byname[name]
            out.append(row)
        return out, ""
    return [], str(profile)


def memory_peak(fn: Any, env: dict[str, int]) -> int | None:
    """Peak bytes of the compiled function's memory plan for `env`, if the runtime exposes one (hook)."""
    try:
        plan = fn.plan_for(env)
    except Exception:
        return None
    for obj in (plan, getattr(plan, "memory", None), getattr(plan, "memory_plan", None)):
        peak = getattr(obj, "peak_bytes", None)
        if isinstance(peak, int):
            return peak
    return None


def page_data(g_or_fn: Any, *, dims: dict[str, int] | None = None, feeds: dict[str, Any] | None = None,
              report: Any = None, profile: Any = None, loss: Any = None) -> tuple[list[str], dict[str, Any]]:
    """SVG groups and the JSON model of the page."""
    fn = None if isinstance(g_or_fn, Graph) else g_or_fn
    if fn is not None:
        src = getattr(fn, "pipeline_input", None)
        rep = report or fn.report()
        if src is not None and (rep is None or not rep.records or rep.records[0].before is None):
            _, rep, note = _pipeline(src, rep)
        else:
            note = ""
        main = fn.graph
    else:
        main, rep, note = _pipeline(g_or_fn, report)
    origins: dict[int, str] = {}
    for sg in [getattr(fn, "source", None) or g_or_fn] + [r.before for r in getattr(rep, "records", []) or []]:
        if isinstance(sg, Graph):
            origins.update({n.id: f"{n.op} ({n.name}) at {n.location}" for n in sg.nodes if n.id not in origins})
    dg = build(main, dims=dims, feeds=feeds, loss=loss, origins=origins)
    groups, graphs, views = [], [_graph_json(dg)], []
    lay = lay_out(dg)
    diags = list(getattr(rep, "diagnostics", []) or [])
    groups.append(render(dg, lay, 0))
    views.append({"title": f"graph: {main.name}", "render": 0, "graph": 0, "highlight": {},
                  "diag": _diag_keys(main, diags, rep)})
    bwd = [k for k, n in dg.nodes.items() if "backward" in n.classes]
    upd = [k for k, n in dg.nodes.items() if "update" in n.classes and "backward" not in n.classes]
    fwd = [k for k in dg.nodes if k not in set(bwd) | set(upd)]
    if bwd:  # forward, backward and updates side by side, each laid out on its own
        inner, dx = [], 0.0
        for part in (fwd, bwd, upd):
            if part:
                lp = lay_out(dg, part)
                inner.append(render(dg, lp, 1, dx=dx, part=True))
                dx += lp.width + 120
        groups.append(f'<g class="view split" id="view1">{"".join(inner)}</g>')
        views.append({"title": "forward | backward | updates", "render": 1, "graph": 0, "highlight": {}, "diag": {}})
    if rep is not None and rep.records and rep.records[0].before is not None:
        snaps = [rep.records[0].before] + [r.after for r in rep.records]
        for i, sg in enumerate(snaps):
            sdg = build(sg, dims=dims, feeds=feeds, origins=origins)
            graphs.append(_graph_json(sdg))
            groups.append(render(sdg, lay_out(sdg), len(groups)))
        base = len(groups) - len(snaps)
        for i, r in enumerate(rep.records):
            info = {"pass": r.name, "before": r.nodes_before, "after": r.nodes_after, "removed": len(r.removed),
                    "added": len(r.added), "ms": round(r.seconds * 1e3, 3),
                    "fired": [f"{f.get('pattern')} at {f.get('location', '?')}" for f in r.fired[:50]]}
            views.append({"title": f"pass {i + 1} {r.name}: before", "render": base + i, "graph": 1 + i,
                          "highlight": {f"n{k}": "removed" for k in r.removed}, "pass": info,
                          "diag": _diag_keys(snaps[i], diags, rep)})
            views.append({"title": f"pass {i + 1} {r.name}: after", "render": base + i + 1, "graph": 2 + i,
                          "highlight": {f"n{k}": "added" for k in r.added}, "pass": info,
                          "diag": _diag_keys(snaps[i + 1], diags, rep)})
    env = bind_dims(main, dims, feeds)
    totals = dict(dg.totals)
    if fn is not None:
        peak = memory_peak(fn, env)
        totals["memory_peak"] = peak
        if peak is not None:
            totals["text"] += f" · memory plan peak {human(peak, 'B')}"
    graphs[0]["totals"] = {k: v for k, v in totals.items() if k != "env"}
    rows, ptext = _profile_rows(profile, main)
    data = {"views": views, "graphs": graphs, "note": note, "profile": rows, "profile_text": ptext,
            "dims": {str(k): v for k, v in env.items()}, "diagnostics": [{k: str(v) for k, v in d.items()}
                                                                          for d in diags]}
    return groups, data


def save_html(g_or_fn: Any, path: str | os.PathLike, *, dims: dict[str, int] | None = None,
              feeds: dict[str, Any] | None = None, report: Any = None, profile: Any = None, loss: Any = None,
              title: str | None = None) -> str:
    """Write a self-contained HTML drawing of a graph or compiled function to `path`; returns the path."""
    groups, data = page_data(g_or_fn, dims=dims, feeds=feeds, report=report, profile=profile, loss=loss)
    name = title or data["graphs"][0]["name"]
    css = (_ASSETS / "page.css").read_text()
    js = (_ASSETS / "page.js").read_text()
    blob = json.dumps(data, default=str).replace("</", "<\\/")
    html = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{escape(name)} · graphnn</title>"
            f"<style>{css}</style></head><body>"
            f"{(_ASSETS / 'page.html').read_text()}"
            f"<svg id=\"canvas\" xmlns=\"http://www.w3.org/2000/svg\"><g id=\"viewport\">{''.join(groups)}</g></svg>"
            f"<script id=\"gn-data\" type=\"application/json\">{blob}</script><script>{js}</script></body></html>")
    Path(path).write_text(html, encoding="utf-8")
    return str(path)
