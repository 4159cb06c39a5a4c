"""The ordered pass lists per target and the name -> pass table; `run_pipeline` runs them and records
what each pass changed (the report the compile step, `fn.report()` and the drawing use).

Imports only graphnn.ir and sibling passes.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

from ..ir.errors import GraphError, StabilityWarning
from ..ir.graph import Graph
from ..ir.verify import verify
from .algebraic_simplification import simplify_algebra
from .attention_fusion import fuse_attention
from .autodiff import expand_gradients
from .batchnorm_folding import fold_batchnorm
from .common_subexpression_elimination import eliminate_common_subexpressions
from .concat_layout import concat_in_layout
from .constant_folding import fold_constants
from .conv_epilogue import fuse_conv_epilogue
from .dead_code_elimination import eliminate_dead_code
from .elementwise_fusion import fuse_elementwise
from .fusion import fuse_stable_patterns
from .gemm_update_fusion import fuse_gemm_updates
from .mode import lower_mode
from .stability import guard_masked_singularities

Pass = Callable[[Graph], Graph]

# name -> pass; every pass is a plain Graph -> Graph function.
PASSES: dict[str, Pass] = {
    "mode": lower_mode,  # train/eval forms of batch_norm and dropout (graph.facts.mode)
    "cse": eliminate_common_subexpressions,  # one node per distinct computation, one constant per value
    "fusion": fuse_stable_patterns,  # losses on probabilities -> on logits; hand-written softmax/softplus/lse
    "attention_fusion": fuse_attention,  # hand-written softmax(q kᵀ s + mask) v -> the fused attention op
    "fold_batchnorm": fold_batchnorm,  # eval-mode batch norm after a convolution -> folded into its weights
    "stability": guard_masked_singularities,  # double-where guard of sqrt/log/div in discarded where branches
    "autodiff": expand_gradients,  # expand gn.grad requests into backward nodes
    "constant_folding": fold_constants,  # evaluate constant subgraphs and shape arithmetic
    "simplify": simplify_algebra,  # algebraic identities: x*1, x+0, x-x, transpose/reshape chains, ...
    "concat_layout": concat_in_layout,  # transpose(concat(xs)) -> concat of transposed views: one copy, not two
    "dead_code": eliminate_dead_code,  # drop nodes that reach no output or update
    "conv_epilogue": fuse_conv_epilogue,  # bias add (+ ReLU) after a convolution -> its kernel's epilogue
    "gemm_update_fusion": fuse_gemm_updates,  # p - lr (a @ b) updates -> one gemm writing into p (beta = 1)
    "fuse_elementwise": fuse_elementwise,  # chains of elementwise nodes -> one fused kernel each (runtime)
}

# Ordered steps per target. Forward-level rewrites come before autodiff so the backward graph of a
# fused op is its closed form; cleanups run after, on forward and backward alike.
TRAINING = [
    "mode",  # lower mode-dependent ops first: autodiff differentiates the lowered forms
    "cse",  # merge duplicates first, so each pattern below sees a shared value once
    "fusion",  # stable fused ops, before autodiff: their gradient rules are the closed forms
    "attention_fusion",  # after fusion made hand-written softmax one op; closed-form backward, no NaN rows
    "stability",  # guard singular ops under where, so the backward graph stays NaN-free
    "autodiff",  # backward graph as more nodes of the same graph
    "constant_folding",  # fold constants and element counts the gradient rules produced
    "simplify",  # drop the x*1, x+0, reshape chains that folding and gradient rules leave
    "cse",  # forward and backward often recompute the same values (softmax, transposes)
    "simplify",  # identities exposed by merging (x - x on merged operands)
    "concat_layout",  # after the backward's concats exist: write them in the layout their readers take
    "dead_code",  # remove what the requested outputs and updates do not need
    "gemm_update_fusion",  # before elementwise fusion takes the update's sub and mul: one gemm into the weight
    "fuse_elementwise",  # last: fuses forward, backward and update arithmetic alike (runtime)
]
# Same steps (autodiff is a no-op without gradient requests), plus batch norm folded into the convolutions and
# their bias adds and ReLUs moved into the convolutions' epilogues (after the cleanups, before elementwise fusion
# would take the add + ReLU).
INFERENCE = ["mode", "fold_batchnorm", *TRAINING[1:-1], "conv_epilogue", TRAINING[-1]]
# The ONNX exporter lowers the fused loss ops to standard ONNX; the runtime's elementwise fusion is not for export.
EXPORT = [p for p in TRAINING if p not in ("fuse_elementwise", "gemm_update_fusion")]
TARGETS = {"training": TRAINING, "inference": INFERENCE, "export": EXPORT}
REQUIRED = ("mode", "autodiff")  # lowering steps that run even with passes="none"
FORWARD_LEVEL = frozenset({"mode", "cse", "fusion", "attention_fusion", "stability", "fold_batchnorm"})  # may run before autodiff
STABILITY_LEVELS = ("fix", "warn", "error", "off")

# observer(pass name, graph before, graph after, record): validate mode checks each pass with it.
Observer = Callable[[str, Graph, Graph, "PassRecord"], None]


@dataclass
class PassRecord:
    """What one pass did: node counts before/after, nodes removed/added, patterns fired, findings, time."""

    name: str
    nodes_before: int
    nodes_after: int
    removed: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)
    fired: list[dict[str, Any]] = field(default_factory=list)  # {"pattern", "node", "location", ...}
    seconds: float = 0.0
    before: Graph | None = None
    after: Graph | None = None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)  # stability findings of this pass
    check: str = ""  # validate mode's verdict on this pass

    def counts(self) -> dict[str, int]:
        """How often each pattern fired."""
        out: dict[str, int] = {}
        for f in self.fired:
            out[f["pattern"]] = out.get(f["pattern"], 0) + 1
        return out


@dataclass
class PipelineReport:
    """Per-pass records plus stability diagnostics; prints as a table."""

    target: str
    records: list[PassRecord] = field(default_factory=list)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    stability: str = "fix"
    planning_seconds: float | None = None  # building the executor's plans (set by the compiled function)

    @property
    def fired(self) -> list[dict[str, Any]]:
        return [f for r in self.records for f in r.fired]

    def record(self, name: str) -> PassRecord:
        """The first record of pass `name`."""
        for r in self.records:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (graph snapshots left out) for drawings and logs."""
        recs = [{k: v for k, v in vars(r).items() if k not in ("before", "after")} for r in self.records]
        return {"target": self.target, "stability": self.stability, "records": recs,
                "diagnostics": list(self.diagnostics), "planning_seconds": self.planning_seconds}

    def __str__(self) -> str:
        rows = [f"pipeline {self.target}: {len(self.records)} passes, stability={self.stability}",
                f"  {'pass':<18}{'before':>7}{'after':>7}{'-':>5}{'+':>5}{'ms':>8}  fired"]
        for r in self.records:
            fired = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in r.counts().items())
            check = f"  [{r.check}]" if r.check else ""
            rows.append(f"  {r.name:<18}{r.nodes_before:>7}{r.nodes_after:>7}{len(r.removed):>5}{len(r.added):>5}"
                        f"{r.seconds * 1e3:8.2f}  {fired}{check}")
            sites: dict[tuple[str, str], int] = {}  # (pattern, user line) -> times fired there
            for f in r.fired:
                if f.get("pass") not in ("cse", "constant_folding"):
                    key = (f["pattern"], f.get("location", "?"))
                    sites[key] = sites.get(key, 0) + 1
            for (pattern, loc), k in list(sites.items())[:12]:
                rows.append(f"      {pattern}{f' x{k}' if k > 1 else ''}  at {loc}")
            if len(sites) > 12:
                rows.append(f"      ... {len(sites) - 12} more sites")
        passes_s = sum(r.seconds for r in self.records)
        planning = ("not yet (plans are built on the first call)" if self.planning_seconds is None
                    else f"{self.planning_seconds * 1e3:.2f} ms")
        rows.append(f"  passes {passes_s * 1e3:.2f} ms in all; planning {planning}")
        for d in self.diagnostics:
            state = "fixed" if d["fixed"] else "NOT FIXED"
            rows.append(f"  stability [{state}] {d['pattern']} at {d['location']} -> {d['replacement']}: "
                        f"{d['reason']}")
        return "\n".join(rows)

    __repr__ = __str__


def resolve_passes(target: str, passes: Any, table: dict[str, Pass] | None = None) -> list[str]:
    """The pass names to run: the target's list ("default"), only the required ones ("none"), or a list."""
    if target not in TARGETS:
        raise GraphError(f"unknown pipeline target {target!r}; one of {sorted(TARGETS)}")
    if passes in ("default", None):
        return list(TARGETS[target])
    if passes == "none":
        return list(REQUIRED)
    names = [passes] if isinstance(passes, str) else list(passes)  # one name, not its characters
    known = table or PASSES
    unknown = [p for p in names if p not in known]
    if unknown:
        raise GraphError(f"unknown pass(es) {unknown}; known: {sorted(known)}")
    if "mode" not in names:  # mode-dependent ops are lowered before anything else sees them
        names.insert(0, "mode")
    if "autodiff" not in names:  # after the leading forward-level rewrites, as in the default lists
        k = 0
        while k < len(names) and names[k] in FORWARD_LEVEL:
            k += 1
        names.insert(k, "autodiff")
    return names


def _warn(d: dict[str, Any]) -> None:
    """A StabilityWarning attributed to the user's line (so filters and IDEs point at it)."""
    msg = (f"{'rewrote' if d['fixed'] else 'cannot fix'} unstable {d['pattern']} -> {d['replacement']}: "
           f"{d['reason']} (at {d['location']})")
    file, _, line = d["location"].rpartition(":")
    if file and line.isdigit():
        warnings.warn_explicit(msg, StabilityWarning, file, int(line))
    else:
        warnings.warn(msg, StabilityWarning, stacklevel=4)


def report_diagnostics(diags: list[dict[str, Any]], level: str) -> None:
    """Tell the user: warn on unfixed findings ("fix"), on all ("warn"), raise on any ("error")."""
    if level == "error" and diags:
        lines = "\n".join(f"  {d['pattern']} at {d['location']} -> {d['replacement']}: {d['reason']}"
                          for d in diags)
        raise GraphError(f"stability='error': {len(diags)} unstable pattern(s) found:\n{lines}")
    for d in diags:
        if level == "warn" or (level == "fix" and not d["fixed"]):
            _warn(d)


def run_pipeline(g: Graph, target: str = "training", passes: Any = "default", *, check: bool = False,
                 keep_graphs: bool = False, table: dict[str, Pass] | None = None, stability: str = "fix",
                 observer: Observer | None = None) -> tuple[Graph, PipelineReport]:
    """Copy `g`, run the named passes in order, return the optimized graph and the report."""
    if stability not in STABILITY_LEVELS:
        raise GraphError(f"stability must be one of {STABILITY_LEVELS}, got {stability!r}")
    table = table or PASSES
    report = PipelineReport(target, stability=stability)
    g = g.copy()
    g.facts.stability = stability
    for name in resolve_passes(target, passes, table):
        before_ids = {n.id for n in g.nodes}
        before_n = len(g.nodes)
        snapshot = g.copy() if keep_graphs or observer is not None else None
        g.facts.fired, g.facts.diagnostics = [], []
        t0 = time.perf_counter()
        g = table[name](g)
        dt = time.perf_counter() - t0
        after_ids = {n.id for n in g.nodes}
        rec = PassRecord(name, before_n, len(g.nodes), sorted(before_ids - after_ids), sorted(after_ids - before_ids),
                         g.facts.fired, dt, snapshot if keep_graphs else None,
                         g.copy() if keep_graphs else None, g.facts.diagnostics)
        g.facts.fired, g.facts.diagnostics = [], []
        report.records.append(rec)
        report.diagnostics.extend(rec.diagnostics)
        if check:
            verify(g)
        if observer is not None:
            observer(name, snapshot, g, rec)  # type: ignore[arg-type]
    report_diagnostics(report.diagnostics, stability)
    return g, report
