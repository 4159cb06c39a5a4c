"""`gn.optimize`: run the pass pipeline on a graph and return the optimized copy with its `.report`
(what each pass changed, stability findings); the same pipeline `gn.compile` runs before lowering.

User level: imports graphnn.ir, graphnn.passes and (for validate mode) graphnn.validate.
"""

from __future__ import annotations

from typing import Any

from .ir.errors import GraphError
from .ir.graph import Graph
from .passes.pipeline import Observer, run_pipeline


def validator(validate: bool) -> Observer | None:
    """The pipeline observer for validate mode (None when off)."""
    if not validate:
        return None
    from .validate import PassValidator

    return PassValidator()


def optimize(g: Graph, outputs: Any = None, updates: Any = None, *, target: str | None = None,
             passes: Any = "default", stability: str = "fix", validate: bool = False,
             keep_graphs: bool = False, mode: str | None = None) -> Graph:
    """The optimized copy of `g` for `outputs`/`updates` (default: the graph's named outputs), with `.report`."""
    from .compiler import _normalize_outputs, _normalize_updates

    work = g.copy()
    byid = {v.id: v for v in work.values()}  # copy() rebinds values to `work`; map the user's over by id
    work.outputs = {k: byid[v.id] for k, v in _normalize_outputs(g, outputs).items()}
    work.updates = {k: byid[v.id] for k, v in _normalize_updates(g, updates).items()}
    if not work.outputs and not work.updates:
        raise GraphError(f"gn.optimize({g.name!r}): nothing to compute: give outputs= or updates=, or g.output(...)")
    work.meta["mode"] = mode or ("train" if work.updates else "eval")  # gn.compile's rule
    target = target or ("training" if work.updates else "inference")
    opt, report = run_pipeline(work, target, passes, check=validate, keep_graphs=keep_graphs, stability=stability,
                               observer=validator(validate))
    opt.report = report  # type: ignore[attr-defined]
    return opt
