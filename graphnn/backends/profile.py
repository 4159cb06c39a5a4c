"""`Profile`: what `fn.profile` returns, per-node time shares of a step; prints as a table.

Imports graphnn.ir only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..ir.graph import Node


@dataclass
class ProfileRow:
    """One node (a fused kernel counts as one): total seconds over all runs and where it came from."""

    name: str
    op: str
    seconds: float
    location: str
    members: tuple[str, ...] = ()


@dataclass
class Profile:
    """Per-node times over `runs` runs of the observable path; `top(k)` sorts by share."""

    rows: dict[str, ProfileRow] = field(default_factory=dict)
    runs: int = 0

    def add(self, node: Node, seconds: float) -> None:
        r = self.rows.get(node.name)
        if r is None:
            members = tuple(s[0] for s in node.attrs.get("body", ())) if node.op == "fused_elementwise" else ()
            r = self.rows[node.name] = ProfileRow(node.name, node.op, 0.0, node.location, members)
        r.seconds += seconds

    @property
    def total(self) -> float:
        return sum(r.seconds for r in self.rows.values())

    def top(self, k: int = 5) -> list[tuple[ProfileRow, float]]:
        """The k slowest nodes with their share of the step (0..1)."""
        tot = self.total or 1.0
        rows = sorted(self.rows.values(), key=lambda r: -r.seconds)[:k]
        return [(r, r.seconds / tot) for r in rows]

    def as_dicts(self) -> list[dict[str, Any]]:
        tot = self.total or 1.0
        return [{"node": r.name, "op": r.op, "members": list(r.members), "share": r.seconds / tot,
                 "us_per_run": r.seconds / max(self.runs, 1) * 1e6, "location": r.location}
                for r in sorted(self.rows.values(), key=lambda r: -r.seconds)]

    def table(self, k: int | None = None) -> str:
        rows = self.as_dicts()[:k] if k else self.as_dicts()
        out = [f"{'share':>6} {'us/run':>9}  {'op':<18} node"]
        for d in rows:
            op = d["op"] if not d["members"] else "fused(" + "+".join(d["members"]) + ")"
            out.append(f"{d['share'] * 100:5.1f}% {d['us_per_run']:9.1f}  {op:<18} {d['node']}")
        return "\n".join(out)

    __str__ = table
