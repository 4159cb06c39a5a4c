"""NumPy kernels of graphnn/ir/ops/control_flow.py: `cond` runs the taken branch's subgraph through the shared
planner (one plan per branch and input shapes, built on first use); `scan` runs its body's compiled plan per step.

The branches run over the whole kernel table, which this family is part of: `kernels_with_cond(table)` closes
over the finished table (no import back into the package's __init__). Imports graphnn.ir, the pass pipeline
(scan bodies are optimized like a whole graph) and the executor.
"""

from __future__ import annotations

from typing import Any

from ...ir import subgraph
from ...ir.graph import Node
from ...passes.pipeline import run_pipeline
from ..executor import Plan, bind_feeds, build_plan, guard_run, run_plan
from ..table import Table
from . import recurrent_cell
from .support import Factory, Kernel, shape_of

OUT_KERNELS: Table[Any] = Table("numpy out= kernel (control_flow)")


def kernels_with_cond(kernels: dict[str, Factory], out_kernels: dict[str, Any] | None = None) -> Table[Factory]:
    """This family's kernel table; `cond` and `scan` plan their subgraphs over `kernels` (the table it is merged
    into) and `out_kernels` (memory planning inside a scan body)."""
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

    @table.register("scan")
    def _scan(xp: Any, node: Node, env: dict) -> Kernel:
        return recurrent_cell.fused_scan(xp, node) or _scan_kernel(xp, node, kernels, out_kernels)

    return table


def _scan_kernel(xp: Any, node: Node, kernels: dict[str, Factory], out_kernels: dict[str, Any] | None) -> Kernel:
    """The body is planned once per step shape into one compiled straight-line function; a step feeds it views
    of the preallocated stacked arrays (x_t, the carry it starts from) and copies its results into them, so the
    loop costs one call and a copy per output per step."""
    # The body was traced raw; it gets the same optimization as a whole graph (fusing its elementwise chains).
    body, _ = run_pipeline(subgraph.decode(node.attrs["body"]), "inference", stability="off")
    nc, nx, reverse = node.attrs["n_carry"], node.attrs["n_xs"], node.attrs["reverse"]
    keep = node.attrs.get("keep_saved", True)
    names = [v.name for v in body.inputs]
    outs_k = list(body.outputs)
    carry_k, y_k = outs_k[:nc], outs_k[nc:]
    plans: dict[tuple, tuple[Any, list]] = {}

    def run(*args: Any) -> tuple:
        init, xs, caps = args[:nc], args[nc:nc + nx], args[nc + nx:]
        # A captured weight is often a transposed view; every step's GEMM runs faster on a contiguous copy (made once).
        caps = tuple(xp.ascontiguousarray(c) for c in caps)
        length = xs[0].shape[0]
        feeds: dict[str, Any] = dict(zip(names[nc + nx:], caps))
        for nm, x in zip(names[nc:nc + nx], xs):
            feeds[nm] = x[0] if length else xp.zeros(x.shape[1:], x.dtype)
        for nm, c in zip(names[:nc], init):
            feeds[nm] = c
        key = tuple(a.shape for a in feeds.values())
        entry = plans.get(key)
        if entry is None:
            _, benv = bind_feeds(body, feeds, lambda a, dt: a)
            plan = build_plan(body, xp, kernels, benv, out_kernels=out_kernels)
            yshapes = [(shape_of(body.outputs[k].type.shape, benv), body.outputs[k].dtype) for k in y_k]
            em = plan.emitter
            assert em is not None
            # The same straight-line code without copying planned outputs out of their buffers: every step copies
            # them into the stacked arrays itself before the next step reuses the buffers.
            step_fn = em.compile_run(plan.steps, plan.input_regs, plan.store_regs, plan.output_refs, set(),
                                     plan.copy_updates, plan.bound, False, xp.copyto, xp.may_share_memory)
            step_fn = guard_run(step_fn, plan.on_error, plan.on_end)  # a body's conv kernels: BLAS pin per step
            entry = plans[key] = (step_fn, yshapes)
        step, yshapes = entry
        ys = [xp.empty((length, *shp), dt) for shp, dt in yshapes]
        order = range(length - 1, -1, -1) if reverse else range(length)
        cnames, xnames = names[:nc], names[nc:nc + nx]
        if keep:  # saved[t] is the carry step t starts from; one more slot holds the final carry
            saved = [xp.empty((length + 1, *c.shape), c.dtype) for c in init]
            for s, c in zip(saved, init):
                s[length if reverse else 0] = c
        else:  # two buffers per carry, swapped every step
            saved = [xp.empty((2, *c.shape), c.dtype) for c in init]
            for s, c in zip(saved, init):
                s[0] = c
        for i, t in enumerate(order):  # (floating-point warnings are quiet here: the calling plan runs under errstate)
            if keep:
                src, dst = (t + 1, t) if reverse else (t, t + 1)
            else:
                src, dst = i % 2, (i + 1) % 2
            for nm, s in zip(cnames, saved):
                feeds[nm] = s[src]
            for nm, x in zip(xnames, xs):
                feeds[nm] = x[t]
            out = step(feeds, {}, None)
            for k, s in zip(carry_k, saved):
                s[dst] = out[k]
            for k, y in zip(y_k, ys):
                y[t] = out[k]
        if not keep:  # the saved outputs are read by nobody (keep_saved=False): broadcast views stand for them
            final = [s[length % 2].copy() for s in saved]
            stacked = [xp.broadcast_to(f, (length, *f.shape)) for f in final]
        elif reverse:  # saved[t + 1] is the carry the step at t starts from; the final carry sits at 0
            final = [s[0].copy() for s in saved]
            stacked = [s[1:] for s in saved]
        else:
            final = [s[length].copy() for s in saved]
            stacked = [s[:length] for s in saved]
        res = (*final, *ys, *stacked)
        return res if len(res) > 1 else res[0]

    return run
