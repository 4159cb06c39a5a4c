"""Preflight before an ONNX export: lowering and opset per node, a dynamic-dimension audit and a mode audit,
collected into a report the user can read (and that `export` prints when it refuses).

Imports graphnn.ir only (and the onnx package).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx

from ...ir.graph import Graph, Node
from ...ir.op import InferCtx
from ...ir.op_registry import get_op
from ...ir.types import is_anonymous
from . import LOWERINGS, TRAINING_ONLY, UNSUPPORTED
from .emitter import MIN_OPSET


def _training_reason(n: Node) -> str | None:
    """Why `n` computes something only training needs (None if it is fine in an inference model); the per-op
    reasons live with their family (TRAINING_ONLY)."""
    if n.op in TRAINING_ONLY:
        return TRAINING_ONLY[n.op]
    if "backward" in n.tags or "update" in n.tags:
        return f"a {'backward' if 'backward' in n.tags else 'update'} node"
    return None


@dataclass
class Finding:
    """One preflight result; `error` findings stop the export."""

    severity: str  # "error" | "warning"
    check: str  # "lowering" | "opset" | "dynamic-dim" | "mode" | "stability"
    message: str
    node: str = ""
    location: str = ""

    def __str__(self) -> str:
        where = f" [{self.node} at {self.location}]" if self.node else ""
        return f"{self.severity.upper():7} {self.check:<11} {self.message}{where}"


@dataclass
class PreflightReport:
    """Per-node lowering rows plus findings; `ok` when there is no error."""

    opset: int
    rows: list[tuple[str, str, str, int]] = field(default_factory=list)  # node, op, onnx ops, min opset
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def add(self, severity: str, check: str, message: str, node: Node | None = None) -> None:
        self.findings.append(Finding(severity, check, message, node.name if node else "",
                                     node.location if node else ""))

    def __str__(self) -> str:
        errs = sum(f.severity == "error" for f in self.findings)
        lines = [f"ONNX preflight (opset {self.opset}): {len(self.rows)} nodes, {errs} error(s), "
                 f"{len(self.findings) - errs} warning(s)"]
        lines += [f"  {f}" for f in self.findings]
        # Columns as wide as their longest entry (scoped node names and fused op names run long).
        wn = max([len("node")] + [len(n) for n, _, _, _ in self.rows]) + 2
        wo = max([len("op")] + [len(op) for _, op, _, _ in self.rows]) + 2
        lines.append(f"  {'node':<{wn}}{'op':<{wo}}{'min':>4}  lowering")
        lines += [f"  {n:<{wn}}{op:<{wo}}{m:>4}  {low}" for n, op, low, m in self.rows]
        return "\n".join(lines)

    __repr__ = __str__


def check_lowerings(g: Graph, rep: PreflightReport) -> None:
    newest = onnx.defs.onnx_opset_version()
    if rep.opset < MIN_OPSET or rep.opset > newest:
        rep.add("error", "opset", f"opset {rep.opset} is outside what graphnn writes ({MIN_OPSET}..{newest})")
    for n in g.nodes:
        low = LOWERINGS.get(n.op)
        if low is None:
            why = UNSUPPORTED.get(n.op, "no ONNX lowering is registered for it")
            rep.add("error", "lowering", f"op {n.op!r} cannot be exported: {why}", n)
            rep.rows.append((n.name, n.op, "-", 0))
            continue
        rep.rows.append((n.name, n.op, low.onnx_ops, low.min_opset))
        if low.min_opset > rep.opset:
            rep.add("error", "opset", f"{n.op} lowers to {low.onnx_ops}, which needs opset >= {low.min_opset}; "
                    f"export with opset={max(low.min_opset, MIN_OPSET)} or newer", n)


def check_dynamic_dims(g: Graph, rep: PreflightReport, allow_fixed_dims: bool) -> None:
    """Replay type inference node by node and name the node that turns a symbolic input dim into a
    constant (e.g. broadcasting the batch against a literal 32, or a label input declared with 32 rows)."""
    scratch = Graph("preflight-replay")
    anon = {(v.name, ax): d for v in g.inputs for ax, d in enumerate(v.raw_type.shape) if isinstance(d, str)}
    reported: set[str] = set()

    def fixed() -> dict[str, int]:
        return {d: c for d in anon.values() if isinstance(c := scratch.canon_dim(d), int)}

    severity = "warning" if allow_fixed_dims else "error"
    for n in g.nodes:
        before = fixed()
        ctx = InferCtx(scratch, n.op)
        try:
            outs = get_op(n.op).infer(ctx, [scratch.resolve(v.raw_type) for v in n.inputs], n.attrs)
        except Exception:  # noqa: BLE001 - the verifier reports mistyped graphs; this audit only looks for dims
            continue
        newly = {d: c for d, c in fixed().items() if d not in before}
        # Broadcasting a symbolic dim against a literal does not unify; it shows as an int output dim.
        for out_t in outs:
            for ax in range(out_t.rank):
                ins_d = [scratch.canon_dim(t.shape[ax - out_t.rank + t.rank]) for t in
                         (scratch.resolve(v.raw_type) for v in n.inputs) if t.rank >= out_t.rank - ax]
                sym = [d for d in ins_d if isinstance(d, str) and d in anon.values()]
                if sym and isinstance(out_t.shape[ax], int) and n.op not in ("slice", "reshape") and \
                        (get_op(n.op).elementwise or n.op in ("broadcast_to", "matmul")):
                    newly.setdefault(sym[0], out_t.shape[ax])  # type: ignore[arg-type]
        for d, c in newly.items():
            if d in reported:
                continue
            reported.add(d)
            where = ", ".join(f"{name} axis {ax}" for (name, ax), dd in anon.items() if dd == d)
            shown = "None" if is_anonymous(d) else repr(d)
            rep.add(severity, "dynamic-dim", f"{n.op} fixes the symbolic dim {shown} of {where} to the constant {c}; "
                    "the exported model would only accept that size (use a symbolic size there, or pass "
                    "allow_fixed_dims=True)", n)


def check_mode(g: Graph, rep: PreflightReport, allow_training_ops: bool) -> None:
    for n in g.nodes:
        why = _training_reason(n)
        if why:
            rep.add("warning" if allow_training_ops else "error", "mode",
                    f"{n.op} is a training-mode op in an inference export: {why}"
                    + ("" if allow_training_ops else " (pass allow_training_ops=True to export it anyway)"), n)


def preflight(g: Graph, opset: int, *, allow_training_ops: bool = False, allow_fixed_dims: bool = False) -> PreflightReport:
    """Everything that can be known about exporting `g` (already optimized for export) before writing."""
    rep = PreflightReport(opset)
    check_lowerings(g, rep)
    check_dynamic_dims(g, rep, allow_fixed_dims)
    check_mode(g, rep, allow_training_ops)
    return rep
