"""`Profile`: what `fn.profile` returns, per-node time shares of a step; prints as a table.

Imports graphnn.ir and the NumPy conv kernels' own description of their algorithm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..ir.graph import Node, Value
from ..ir.ops.conv import conv_flops
from .numpy.conv import algorithm

# rows that also show GFLOP/s and the algorithm
CONV_OPS = ("conv2d", "conv2d_bias_act", "conv2d_input_grad", "conv2d_weight_grad")


def conv_y(node: Node) -> Value:
    """The conv2d-shaped tensor of a conv-family node (y, or gy for the backward ops): its FLOPs scale with it."""
    return {"conv2d_input_grad": node.inputs[0], "conv2d_weight_grad": node.inputs[-1]}.get(node.op, node.outputs[0])


@dataclass
class ProfileRow:
    """One node (a fused kernel counts as one): total seconds over all runs and where it came from."""

    name: str
    op: str
    seconds: float
    location: str
    members: tuple[str, ...] = ()
    flops: float = 0.0  # total over all runs, where the op's count is known (the convolutions)
    algorithm: str = ""


@dataclass
class Profile:
    """Per-node times over `runs` runs of the observable path; `top(k)` sorts by share."""

    rows: dict[str, ProfileRow] = field(default_factory=dict)
    runs: int = 0
    host: bool = True  # the NumPy backend (a CuPy run never takes the host-only Winograd path)

    def add(self, node: Node, seconds: float, env: dict | None = None) -> None:
        r = self.rows.get(node.name)
        if r is None:
            members = tuple(s[0] for s in node.attrs.get("body", ())) if node.op == "fused_elementwise" else ()
            r = self.rows[node.name] = ProfileRow(node.name, node.op, 0.0, node.location, members,
                                                  algorithm=algorithm(node, env, self.host) if node.op in CONV_OPS else "")
        r.seconds += seconds
        if node.op in CONV_OPS and env is not None:
            y = conv_y(node)  # y or gy
            r.flops += conv_flops(node, math.prod(env.get(d, 0) if isinstance(d, str) else d for d in y.shape))

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
                 "us_per_run": r.seconds / max(self.runs, 1) * 1e6, "location": r.location,
                 **({"gflops_per_s": r.flops / r.seconds / 1e9 if r.seconds else 0.0, "algorithm": r.algorithm}
                    if r.algorithm else {})}
                for r in sorted(self.rows.values(), key=lambda r: -r.seconds)]

    def table(self, k: int | None = None) -> str:
        rows = self.as_dicts()[:k] if k else self.as_dicts()
        out = [f"{'share':>6} {'us/run':>9}  {'op':<18} node"]
        for d in rows:
            op = d["op"] if not d["members"] else "fused(" + "+".join(d["members"]) + ")"
            extra = f"  [{d['gflops_per_s']:.1f} GFLOP/s; {d['algorithm']}]" if "algorithm" in d else ""
            out.append(f"{d['share'] * 100:5.1f}% {d['us_per_run']:9.1f}  {op:<18} {d['node']}{extra}")
        return "\n".join(out)

    __str__ = table
