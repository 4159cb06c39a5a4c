"""The ordered pass lists per target and the name -> pass table; `run_pipeline` runs them and records
what each pass changed (the report the compile step, `fn.report()` and the drawing use).

Imports only graphnn.ir and sibling passes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..ir.errors import GraphError
from ..ir.graph import Graph
from ..ir.verify import verify
from .autodiff import expand_gradients
from .dead_code_elimination import eliminate_dead_code
from .mode import lower_mode

Pass = Callable[[Graph], Graph]

# name -> pass; every pass is a plain Graph -> Graph function.
PASSES: dict[str, Pass] = {
    "mode": lower_mode,  # train/eval forms of batch_norm and dropout (graph.meta["mode"])
    "autodiff": expand_gradients,  # expand gn.grad requests into backward nodes
    "dead_code": eliminate_dead_code,  # drop nodes that reach no output or update
}

# Ordered steps per target. Forward-level rewrites come before autodiff so the backward graph of a
# fused op is its closed form; cleanups run after.
TRAINING = [
    "mode",  # lower mode-dependent ops first: autodiff differentiates the lowered forms
    "autodiff",  # backward graph as more nodes of the same graph
    "dead_code",  # remove what the requested outputs and updates do not need
]
INFERENCE = [
    "mode",
    "autodiff",
    "dead_code",
]
EXPORT = [
    "mode",
    "autodiff",
    "dead_code",
]
TARGETS = {"training": TRAINING, "inference": INFERENCE, "export": EXPORT}
REQUIRED = ("mode", "autodiff")  # lowering steps that run even with passes="none"


@dataclass
class PassRecord:
    """What one pass did: node counts before/after, nodes removed/added, patterns fired, time."""

    name: str
    nodes_before: int
    nodes_after: int
    removed: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)
    fired: list[dict[str, Any]] = field(default_factory=list)  # {"pattern", "node", "location", ...}
    seconds: float = 0.0
    before: Graph | None = None
    after: Graph | None = None


@dataclass
class PipelineReport:
    """Per-pass records plus stability diagnostics; prints as a table."""

    target: str
    records: list[PassRecord] = field(default_factory=list)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        rows = [f"pipeline {self.target}: {len(self.records)} passes",
                f"  {'pass':<24}{'before':>8}{'after':>8}{'-':>6}{'+':>6}  {'ms':>7}  fired"]
        for r in self.records:
            fired = ", ".join(sorted({f['pattern'] for f in r.fired}))
            rows.append(f"  {r.name:<24}{r.nodes_before:>8}{r.nodes_after:>8}{len(r.removed):>6}{len(r.added):>6}"
                        f"  {r.seconds * 1e3:7.2f}  {fired}")
            for f in r.fired[:20]:
                rows.append(f"      {f['pattern']} at {f.get('location', '?')}")
        for d in self.diagnostics:
            rows.append(f"  stability: {d.get('pattern')} at {d.get('location')}: {d.get('message', '')}")
        return "\n".join(rows)

    __repr__ = __str__


def resolve_passes(target: str, passes: Any) -> list[str]:
    if target not in TARGETS:
        raise GraphError(f"unknown pipeline target {target!r}; one of {sorted(TARGETS)}")
    if passes in ("default", None):
        return list(TARGETS[target])
    if passes == "none":
        return list(REQUIRED)
    names = list(passes)
    unknown = [p for p in names if p not in PASSES]
    if unknown:
        raise GraphError(f"unknown pass(es) {unknown}; known: {sorted(PASSES)}")
    for r in reversed(REQUIRED):  # reversed so the required steps keep their order at the front
        if r not in names:
            names.insert(0, r)
    return names


def run_pipeline(g: Graph, target: str = "training", passes: Any = "default", *, check: bool = False,
                 keep_graphs: bool = False, table: dict[str, Pass] | None = None) -> tuple[Graph, PipelineReport]:
    """Copy `g`, run the named passes in order, return the optimized graph and the report."""
    table = table or PASSES
    report = PipelineReport(target)
    g = g.copy()
    for name in resolve_passes(target, passes):
        before_ids = {n.id for n in g.nodes}
        before_n = len(g.nodes)
        snapshot = g.copy() if keep_graphs else None
        g.meta["fired"] = []
        t0 = time.perf_counter()
        g = table[name](g)
        dt = time.perf_counter() - t0
        after_ids = {n.id for n in g.nodes}
        rec = PassRecord(name, before_n, len(g.nodes), sorted(before_ids - after_ids), sorted(after_ids - before_ids),
                         list(g.meta.pop("fired", [])), dt, snapshot, g.copy() if keep_graphs else None)
        report.records.append(rec)
        report.diagnostics.extend(g.meta.pop("diagnostics", []))
        if check:
            verify(g)
    return g, report
