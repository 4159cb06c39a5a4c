"""`gn.compile` and `gn.optimize`: pick a pipeline, run it, and (compile) lower the optimized graph to a plan and
hand it to a backend.

Imports graphnn.ir, graphnn.passes, graphnn.backends and graphnn.checking (numerics debugging, validate mode).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .backends.function import Function
from .checking.debug import explain_nonfinite
from .ir.errors import BackendError, GraphError
from .ir.graph import Graph, Value
from .checking.validate import PassValidator
from .passes.pipeline import Observer, run_pipeline
from .distributed import comm as dist_comm
from .distributed.replicas import start_replicas
from .passes.data_parallel import data_parallel_pipeline, graph_hash, prepare_data_parallel

MODES = ("train", "eval")


def get_backend(name: str) -> Any:
    """The backend object for `name` ("numpy" or "cupy")."""
    if name == "numpy":
        from .backends.numpy.backend import NumpyBackend

        return NumpyBackend()
    if name == "cupy":
        try:
            from .backends.cupy.backend import CupyBackend
        except ImportError as e:  # the module exists; its import of cupy is what fails
            raise BackendError(f"backend 'cupy' needs CuPy and an NVIDIA GPU: pip install 'graphnn[gpu]' ({e})") from None
        return CupyBackend()
    raise BackendError(f"unknown backend {name!r}; choose 'numpy' or 'cupy'")


def _normalize_outputs(g: Graph, outputs: Any) -> dict[str, Value]:
    if outputs is None:
        outs = dict(g.outputs)
    elif isinstance(outputs, Value):
        outs = {outputs.name: outputs}
    elif isinstance(outputs, Mapping):
        outs = dict(outputs)
    elif isinstance(outputs, Sequence):
        outs = {v.name: v for v in outputs}
    else:
        raise GraphError(f"outputs must be a Value, a list or a dict of Values, got {type(outputs).__name__}")
    for k, v in outs.items():
        if not isinstance(v, Value):
            raise GraphError(f"output {k!r} is not a graph value: {v!r}")
        if v.graph is not g:
            raise GraphError(f"output {k!r} ({v.name}) belongs to graph {v.graph.name!r}, not {g.name!r}")
    return outs


def _normalize_updates(g: Graph, updates: Any) -> dict[str, Value]:
    if updates is None:
        return {}
    items = updates.items() if isinstance(updates, Mapping) else updates
    res: dict[str, Value] = {}
    for target, new in items:
        name = target.name if isinstance(target, Value) else str(target)
        tv = g.param(name)
        if tv.kind not in ("param", "state"):
            raise GraphError(f"updates: {name} is a {tv.kind}, only parameters and state can be updated")
        if not isinstance(new, Value) or new.graph is not g:
            raise GraphError(f"updates: the new value of {name} must be a value of graph {g.name!r}")
        if new.type != tv.type:
            node = new.producer
            at = f"\n  at: {node.location} (where the new value {new.name} was built)" if node is not None else ""
            raise GraphError(f"updates: new value of {name} is {new.type}, but {name} is {tv.type} "
                             f"(an update must keep the type exactly; cast or reshape the new value){at}")
        if name in res:
            raise GraphError(f"updates: {name} is updated twice")
        res[name] = new
    return res


def compile(g: Graph, outputs: Any = None, updates: Any = None, *, backend: str = "numpy", passes: Any = "default",
            mode: str | None = None, check_numerics: bool = False, validate: bool = False,
            stability: str = "fix", host_outputs: bool = False, data_parallel: bool = False) -> Function:  # noqa: A001
    """Optimize `g` for the requested outputs and updates and return a callable `Function`.

    `mode`: "train" (dropout active, batch norm uses batch statistics) or "eval"; None (the default) means
    "train" when there are `updates=` (a training step) and "eval" otherwise (an evaluation function).
    `host_outputs=True`: a device backend (cupy) returns NumPy arrays instead of device arrays.
    `data_parallel=True`: under `mpiexec`, average gradients and batch-mean outputs across ranks (docs/distributed.md)."""
    if mode is not None and mode not in MODES:
        raise GraphError(f"mode must be one of {MODES}, got {mode!r}")
    be = get_backend(backend)
    work = g.copy()
    work.outputs = _normalize_outputs(g, outputs)
    work.updates = _normalize_updates(g, updates)
    if mode is None:  # a step that updates parameters trains; a function that only computes evaluates
        mode = "train" if work.updates else "eval"
    if not work.outputs and not work.updates:
        raise GraphError(f"gn.compile({g.name!r}): nothing to compute: give outputs= or updates=, or g.output(...)")
    # copy() rebinds values to `work`; map the user's values over by id.
    byid = {v.id: v for v in work.values()}
    work.outputs = {k: byid[v.id] for k, v in work.outputs.items()}
    work.updates = {k: byid[v.id] for k, v in work.updates.items()}
    work.meta["mode"] = mode
    target = "training" if work.updates else "inference"
    table = None
    if data_parallel:  # the loss must be a batch mean; the pass averages gradients right after autodiff
        prepare_data_parallel(work, dist_comm.rank(), dist_comm.size())
        passes, table = data_parallel_pipeline(target, passes)
    opt, report = run_pipeline(work, target, passes, check=validate, stability=stability, observer=validator(validate),
                               table=table)
    _drop_unused_inputs(opt)
    if data_parallel:  # same graph on every rank, then rank 0's parameters and state everywhere
        start_replicas(g.storage, graph_hash(work), f"gn.compile({g.name!r}, data_parallel=True)")
    fn = Function(g, opt, report, be, check_numerics=check_numerics, mode=mode, host_outputs=host_outputs)
    fn.pipeline_input = work  # the graph the pipeline started from: viz and debug re-run it keeping snapshots
    fn.explain_numerics = explain_nonfinite  # check_numerics failures name the first bad node (graphnn.debug)
    return fn


def _drop_unused_inputs(g: Graph) -> None:
    """Inputs the compiled outputs and updates do not read need no feed (an evaluation function does not
    need labels); they are still accepted and ignored. Symbolic dims do not change that: an unread input is
    kept only when it alone binds a dim that a computed value's shape needs (`broadcast_to(p, ("n", 3))`)."""
    used = {v.id for n in g.nodes for v in n.inputs} | {v.id for v in g.outputs.values()}
    used |= {v.id for v in g.updates.values()}
    kept = [v for v in g.inputs if v.id in used]
    bound = {d for v in kept for d in v.type.shape if isinstance(d, str)}
    needed = {d for n in g.nodes for o in n.outputs for d in o.type.shape if isinstance(d, str)}
    dropped = []
    for v in g.inputs:
        if v.id in used:
            continue
        if all(not isinstance(d, str) or d in bound or d not in needed for d in v.type.shape):
            dropped.append(v.name)
        else:
            kept.append(v)
            bound |= {d for d in v.type.shape if isinstance(d, str)}
    g.inputs = [v for v in g.inputs if v.name not in dropped]
    g.meta["ignored_inputs"] = dropped


def validator(validate: bool) -> Observer | None:
    """The pipeline observer for validate mode (None when off)."""
    return PassValidator() if validate else None


def optimize(g: Graph, outputs: Any = None, updates: Any = None, *, target: str | None = None,
             passes: Any = "default", stability: str = "fix", validate: bool = False,
             keep_graphs: bool = False, mode: str | None = None) -> Graph:
    """The optimized copy of `g` for `outputs`/`updates` (default: the graph's named outputs), with `.report`:
    the same pipeline `gn.compile` runs before lowering."""
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
