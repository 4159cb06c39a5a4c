"""NumPy kernel of graphnn/ir/ops/control_flow.py (`cond`): run the taken branch's subgraph through the shared
planner (one plan per branch and input shapes, built on first use).

The branches run over the whole kernel table, which this family is part of: `kernels_with_cond(table)` closes
over the finished table (no import back into the package's __init__). Imports graphnn.ir and the executor.
"""

from __future__ import annotations

from typing import Any

from ...ir import subgraph
from ...ir.graph import Node
from ..executor import Plan, bind_feeds, build_plan, run_plan
from ..table import Table
from .support import Factory, Kernel

OUT_KERNELS: Table[Any] = Table("numpy out= kernel (control_flow)")


def kernels_with_cond(kernels: dict[str, Factory]) -> Table[Factory]:
    """This family's kernel table; `cond` plans its branches over `kernels` (the table it is merged into)."""
    table: Table[Factory] = Table("numpy kernel (control_flow)")

    @table.register("cond")
    def _cond(xp: Any, node: Node, env: dict) -> Kernel:
        branches = [subgraph.decode(s) for s in node.attrs["subgraph"]]
        plans: dict[tuple, Plan] = {}
        n_out = len(node.outputs)

        def run(pred: Any, *args: Any) -> Any:
            k = 0 if bool(pred) else 1
            g = branches[k]
            feeds = {v.name: a for v, a in zip(g.inputs, args)}
            key = (k, *(a.shape for a in args))
            plan = plans.get(key)
            if plan is None:
                _, benv = bind_feeds(g, feeds, lambda a, dt: a)
                plan = plans[key] = build_plan(g, xp, kernels, benv)
            outs, _ = run_plan(plan, xp, feeds, {})
            # A branch may return an operand as is; copy it so the output never aliases an input buffer
            # (the outer plan may reuse or update buffers in place).
            ids = {id(a) for a in args}
            res = tuple(xp.array(o, copy=True) if id(o) in ids else o for o in (outs[name] for name in g.outputs))
            return res if n_out > 1 else res[0]

        return run

    return table
