"""The layer hierarchy of a drawing: every box gets a group path from its name scope (the `gn.nn` module path or a
user's `g.name_scope`). Nodes that lost their scope (fused by a pass, made by autodiff or the optimizer) get the
scope of the nodes they were derived from (provenance); backward nodes go to a "∇ <layer>" group that the page
sets beside the forward layer, optimizer arithmetic to an "optimizer/<layer>" group per parameter's layer.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..ir.graph import Graph
from .model import DrawGraph

BWD = "∇"  # prefix of a backward group's top segment
OPT = "optimizer"


def _common(paths: list[str]) -> str:
    """Longest common prefix of scope paths, segment-wise."""
    if not paths:
        return ""
    segs = [p.split("/") for p in paths]
    out = []
    for parts in zip(*segs):
        if any(s != parts[0] for s in parts):
            break
        out.append(parts[0])
    return "/".join(out)


class ScopeResolver:
    """Forward scope of any node id seen in `graphs` (the drawn graph and the pipeline's earlier snapshots)."""

    def __init__(self, graphs: Iterable[Graph]) -> None:
        self.info: dict[int, tuple[str, frozenset, frozenset]] = {}
        for g in graphs:
            for n in g.nodes:
                self.info.setdefault(n.id, (n.scope, frozenset(n.tags), frozenset(n.prov.derived_from)))
        self.memo: dict[int, str] = {}

    def scope(self, nid: int) -> str:
        """The node's own scope, else the common scope of what it was derived from ("" when none)."""
        if nid in self.memo:
            return self.memo[nid]
        self.memo[nid] = ""  # cycle guard
        own, tags, der = self.info.get(nid, ("", frozenset(), frozenset()))
        if own and not own.startswith("adam") and "update" not in tags:
            res = own
        else:
            res = _common([s for s in (self.scope(d) for d in sorted(der) if d != nid) if s])
        self.memo[nid] = res
        return res


def _dir(name: str) -> str:
    return name.rsplit("/", 1)[0] if "/" in name else ""


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def group_paths(g: Graph, dg: DrawGraph, res: ScopeResolver) -> dict[str, str]:
    """Box key -> group path ("" = top level)."""
    out: dict[str, str] = {}
    prod = g.producer
    upd_sink: dict[int, str] = {}  # node id -> the layer scope of the parameter its update chain ends in
    for name, v in g.updates.items():
        out[f"u:{name}"] = _join(OPT, _dir(name))
        stack = [prod[v.id]] if v.id in prod else []
        while stack:
            n = stack.pop()
            if n.id in upd_sink or f"n{n.id}" not in dg.nodes or "update" not in dg.nodes[f"n{n.id}"].classes:
                continue
            upd_sink[n.id] = _dir(name)
            stack.extend(prod[i.id] for i in n.inputs if i.id in prod)
    readers: dict[str, list[str]] = {}
    for e in dg.edges:
        readers.setdefault(e.src, []).append(e.dst)
    for key, dn in dg.nodes.items():
        if key in out:
            continue
        if dn.kind in ("param", "state"):
            rd = readers.get(key, [])
            if dn.kind == "state" and rd and all("update" in dg.nodes[r].classes for r in rd):
                continue  # optimizer state (Adam's moments): placed with its readers below
            out[key] = _dir(dn.label)
        elif dn.kind in ("input", "output"):
            out[key] = ""
        elif dn.kind == "op" and dn.node_id is not None:
            s = res.scope(dn.node_id)
            if "backward" in dn.classes:
                segs = s.split("/") if s else []
                out[key] = _join(BWD + (segs[0] if segs else ""), *segs[1:])
            elif "update" in dn.classes:
                out[key] = _join(OPT, upd_sink.get(dn.node_id, ""))
            else:
                out[key] = s
    for key in dg.nodes:  # constants and optimizer state sit with their first reader
        if key not in out:
            rd = readers.get(key, [])
            out[key] = out.get(rd[0], "") if rd else ""
    return out
