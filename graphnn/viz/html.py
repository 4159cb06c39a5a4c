"""`save_html`: one self-contained page (inline CSS, JS and a compact JSON model, no network) showing a graph or a
compiled function as nested, collapsible layers (the page lays out only what is visible), with the pass-by-pass
pipeline, costs, gradient flow, diagnostics and profile.
"""

from __future__ import annotations

import base64
import json
import os
import re
import zlib
from html import escape
from pathlib import Path
from typing import Any

from ..ir.graph import Graph
from ..passes.pipeline import run_pipeline
from .costs import bind_dims, human
from .hier import ScopeResolver, group_paths
from .model import DrawGraph, build

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


_SKIP = {"provenance", "derived_from", "fused_from", "scope", "kind", "label", "flops_text", "bytes_text", "inputs",
         "outputs", "tags", "location", "origins"}


class _Tables:
    """The page's shared tables: one entry per box key across all drawn graphs (pass snapshots share the
    entries of the nodes they keep), and interned edge labels, so the page grows linearly with the graph."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self.nodes: list[dict[str, Any]] = []
        self.texts: list[str] = []
        self.tindex: dict[str, int] = {}

    def text(self, t: str) -> int:
        if t not in self.tindex:
            self.tindex[t] = len(self.texts)
            self.texts.append(t)
        return self.tindex[t]

    def node(self, key: str, n: Any, path: str) -> int:
        if key not in self.index:
            self.index[key] = len(self.keys)
            self.keys.append(key)
            info = {k: v for k, v in n.info.items() if k not in _SKIP and v not in ("", [], {}, None)}
            info.update(l=n.label, k=n.kind, c=" ".join(sorted(n.classes - {n.kind})), p=self.text(path))
            if info.get("name") == n.label:
                del info["name"]
            if n.info.get("location"):
                info["loc"] = self.text(n.info["location"])
            if n.info.get("outputs"):
                info["out"] = [self.text(o.split(": ", 1)[-1]) for o in n.info["outputs"]]
            if n.info.get("origins"):
                gone = n.info["origins"]
                info["origins"] = gone[:3] + ([f"... and {len(gone) - 3} more"] if len(gone) > 3 else [])
            der = n.info.get("derived_from") or []
            if der:
                info["der"] = der
            passes = (n.info.get("provenance") or {}).get("passes")
            if passes:
                info["passes"] = passes
            if n.kind in ("param", "state"):
                info["numel"] = _numel(n.info.get("type", ""))
            self.nodes.append(info)
        return self.index[key]

    def graph(self, dg: DrawGraph, g: Graph, res: ScopeResolver) -> dict[str, Any]:
        paths = group_paths(g, dg, res)
        idx = [self.node(k, n, paths.get(k, "")) for k, n in dg.nodes.items()]
        edges = [[self.index[e.src], self.index[e.dst], self.text(e.label), self.text(e.status or "none")]
                 for e in dg.edges if e.src in self.index and e.dst in self.index]
        return {"name": dg.name, "totals": {k: v for k, v in dg.totals.items() if k != "env"}, "n": idx,
                "e": edges}


def _numel(type_text: str) -> int | None:
    """Element count from a type's text (`float32[16,3,3,3]`; a dim `name=32` counts 32); None if unbound."""
    inner = type_text[type_text.find("[") + 1:-1]
    total = 1
    for d in filter(None, inner.split(",")):
        d = d.rsplit("=", 1)[-1]
        if not d.isdigit():
            return None
        total *= int(d)
    return total


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
              report: Any = None, profile: Any = None, loss: Any = None,
              error: Any = None) -> dict[str, Any]:
    """The JSON model of the page: shared node table, one entry per drawn graph (the final graph, then the
    pipeline's snapshots), views with pass highlights and diagnostics; the page lays out and draws it."""
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
    snaps: list[Graph] = []
    if rep is not None and rep.records and rep.records[0].before is not None:
        snaps = [rep.records[0].before] + [r.after for r in rep.records]
    origins: dict[int, str] = {}
    for sg in [getattr(fn, "source", None) or g_or_fn] + snaps:
        if isinstance(sg, Graph):
            origins.update({n.id: f"{n.op} ({n.name}) at {n.location}" for n in sg.nodes if n.id not in origins})
    res = ScopeResolver([main] + snaps + [x for x in [getattr(fn, "source", None), g_or_fn] if isinstance(x, Graph)])
    tab = _Tables()
    dg = build(main, dims=dims, feeds=feeds, loss=loss, origins=origins)
    graphs = [tab.graph(dg, main, res)]
    diags = list(getattr(rep, "diagnostics", []) or [])
    views: list[dict[str, Any]] = [{"title": f"graph: {main.name}", "graph": 0, "highlight": {},
                                    "diag": _diag_keys(main, diags, rep)}]
    for i, sg in enumerate(snaps):
        graphs.append(tab.graph(build(sg, dims=dims, feeds=feeds, origins=origins, known=set(tab.index)), sg, res))
    for i, r in enumerate(rep.records if snaps else []):
        info = {"pass": r.name, "before": r.nodes_before, "after": r.nodes_after, "removed": len(r.removed),
                "added": len(r.added), "ms": round(r.seconds * 1e3, 3),
                "fired": [f"{f.get('pattern')} at {f.get('location', '?')}" for f in r.fired[:50]]}
        views.append({"title": f"pass {i + 1} {r.name}: before", "graph": 1 + i,
                      "highlight": {f"n{k}": "removed" for k in r.removed}, "pass": info,
                      "diag": _diag_keys(snaps[i], diags, rep)})
        views.append({"title": f"pass {i + 1} {r.name}: after", "graph": 2 + i,
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
    nan = getattr(error, "node", None)
    return {"views": views, "graphs": graphs, "keys": tab.keys, "nodes": tab.nodes, "texts": tab.texts,
            "note": note, "profile": rows, "profile_text": ptext, "dims": {str(k): v for k, v in env.items()},
            "nan": {"key": f"n{nan.id}", "message": str(error).splitlines()[0]} if nan is not None else None,
            "diagnostics": [{k: str(v) for k, v in d.items()} for d in diags]}


def save_html(g_or_fn: Any, path: str | os.PathLike, *, dims: dict[str, int] | None = None,
              feeds: dict[str, Any] | None = None, report: Any = None, profile: Any = None, loss: Any = None,
              title: str | None = None, error: Any = None) -> str:
    """Write a self-contained HTML drawing of a graph or compiled function to `path`; returns the path.
    `error`: a gn.NumericsError from check_numerics; its node (and every layer holding it) is marked."""
    data = page_data(g_or_fn, dims=dims, feeds=feeds, report=report, profile=profile, loss=loss, error=error)
    name = title or data["graphs"][0]["name"]
    css = (_ASSETS / "page.css").read_text()
    js = "\n".join((_ASSETS / f).read_text() for f in ("layout.js", "tree.js", "page.js"))
    blob = base64.b64encode(zlib.compress(json.dumps(data, default=str, separators=(",", ":")).encode(), 9)).decode()
    html = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{escape(name)} · graphnn</title>"
            f"<style>{css}</style></head><body>"
            f"{(_ASSETS / 'page.html').read_text()}"
            "<svg id=\"canvas\" xmlns=\"http://www.w3.org/2000/svg\"><g id=\"viewport\"></g></svg>"
            f"<script id=\"gn-data\" type=\"application/octet-stream\">{blob}</script><script>{js}</script></body></html>")
    Path(path).write_text(html, encoding="utf-8")
    return str(path)


def read_page_data(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON model inside a page `save_html` wrote (it is stored deflated, base64, in the page)."""
    html = Path(path).read_text(encoding="utf-8")
    m = re.search(r'<script id="gn-data" type="application/octet-stream">([^<]*)</script>', html)
    if m is None:
        raise ValueError(f"{path}: not a graphnn viz page")
    return json.loads(zlib.decompress(base64.b64decode(m.group(1))))
