"""`prepare`, the one entry path to the pipeline, and what uses it: `gn.compile` (lowers the optimized graph to a
plan and hands it to a backend) and `gn.optimize` (returns the optimized graph); ONNX export calls `prepare` too.

Imports graphnn.ir, graphnn.passes, graphnn.backends and graphnn.checking (numerics debugging, validate mode).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .backends.function import Function, gc_paused
from .backends.numpy.backend import NumpyBackend
from .checking.debug import explain_nonfinite
from .checking.validate import PassValidator
from .distributed import comm as dist_comm
from .distributed.replicas import start_replicas
from .ir.errors import BackendError, GraphError
from .ir.graph import Graph, Value
from .ir.types import dim_symbols
from .passes.data_parallel import data_parallel_pipeline, graph_hash, prepare_data_parallel
from .passes.pipeline import Observer, PipelineReport, run_pipeline

MODES = ("train", "eval")


def get_backend(name: str) -> Any:
    """The backend object for `name` ("numpy" or "cupy")."""
    if name == "numpy":
        return NumpyBackend()
    if name == "cupy":
        try:
            from .backends.cupy.backend import CupyBackend  # optional: the module imports cupy
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
    by_name = {p.name: p for p in g.params + g.state}  # one index, not a search per update
    for target, new in items:
        name = target.name if isinstance(target, Value) else str(target)
        tv = by_name.get(name)
        if tv is None:
            tv = g.param(name)  # raises the error naming the graph
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


def prepare(g: Graph, outputs: Any = None, updates: Any = None, *, target: str | None = None,
            mode: str | None = None, passes: Any = "default", stability: str = "fix", validate: bool = False,
            keep_graphs: bool = False, caller: str | None = "gn.compile",
            data_parallel: bool = False) -> tuple[Graph, Graph, PipelineReport]:
    """The one entry path of gn.compile, gn.optimize and ONNX export: copy `g`, normalize the outputs and
    updates, map the user's values onto the copy by id, settle the mode and the target, run the pipeline.
    Returns (the pipeline's input, the optimized graph, the report). `caller` names who asks in the error for
    a graph with nothing to compute (None: no such check). `data_parallel`: check that every differentiated loss
    is a batch mean and insert the gradient all-reduce right after autodiff (passes/data_parallel.py).

    mode None means "train" when there are updates (a training step) and "eval" otherwise; target None means
    "training" when there are updates and "inference" otherwise."""
    if mode is not None and mode not in MODES:
        raise GraphError(f"mode must be one of {MODES}, got {mode!r}")
    with gc_paused():  # see gc_paused: the collector's full scans would make the passes superlinear
        work = g.copy()
        byid = {v.id: v for v in work.values()}  # copy() rebinds values to `work`; map the user's over by id
        work.outputs = {k: byid[v.id] for k, v in _normalize_outputs(g, outputs).items()}
        work.updates = {k: byid[v.id] for k, v in _normalize_updates(g, updates).items()}
        if caller is not None and not work.outputs and not work.updates:
            raise GraphError(f"{caller}({g.name!r}): nothing to compute: give outputs= or updates=, or "
                             "g.output(...)")
        work.facts.mode = mode or ("train" if work.updates else "eval")
        target = target or ("training" if work.updates else "inference")
        table = None
        if data_parallel:
            prepare_data_parallel(work, dist_comm.rank(), dist_comm.size())
            passes, table = data_parallel_pipeline(target, passes)
        opt, report = run_pipeline(work, target, passes, check=validate, keep_graphs=keep_graphs,
                                   stability=stability, observer=validator(validate), table=table)
    return work, opt, report


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
    work, opt, report = prepare(g, outputs, updates, mode=mode, passes=passes, stability=stability,
                                validate=validate, data_parallel=data_parallel)
    _drop_unused_inputs(opt)
    if data_parallel:  # same graph on every rank, then rank 0's parameters and state everywhere
        start_replicas(g.storage, graph_hash(work), f"gn.compile({g.name!r}, data_parallel=True)")
    # pipeline_input: viz and debug re-run the pipeline from it keeping snapshots; explain_numerics: a
    # check_numerics failure names the first bad node (graphnn.checking.debug).
    return Function(g, opt, report, be, check_numerics=check_numerics, mode=work.facts.mode,
                    host_outputs=host_outputs, pipeline_input=work, explain_numerics=explain_nonfinite)


def _drop_unused_inputs(g: Graph) -> None:
    """Inputs the compiled outputs and updates do not read need no feed (an evaluation function does not
    need labels); they are still accepted and ignored. Symbolic dims do not change that: an unread input is
    kept only when it alone binds a dim that a computed value's shape needs (`broadcast_to(p, ("n", 3))`)."""
    used = {v.id for n in g.nodes for v in n.inputs} | {v.id for v in g.outputs.values()}
    used |= {v.id for v in g.updates.values()}
    kept = [v for v in g.inputs if v.id in used]
    bound = {s for v in kept for d in v.type.shape for s in dim_symbols(d)}
    needed = {s for n in g.nodes for o in n.outputs for d in o.type.shape for s in dim_symbols(d)}
    dropped = []
    for v in g.inputs:
        if v.id in used:
            continue
        if all(s in bound or s not in needed for d in v.type.shape for s in dim_symbols(d)):
            dropped.append(v.name)
        else:
            kept.append(v)
            bound |= {s for d in v.type.shape for s in dim_symbols(d)}
    g.inputs = [v for v in g.inputs if v.name not in dropped]
    g.facts.ignored_inputs = dropped


def validator(validate: bool) -> Observer | None:
    """The pipeline observer for validate mode (None when off)."""
    return PassValidator() if validate else None


def optimize(g: Graph, outputs: Any = None, updates: Any = None, *, target: str | None = None,
             passes: Any = "default", stability: str = "fix", validate: bool = False,
             keep_graphs: bool = False, mode: str | None = None) -> Graph:
    """The optimized copy of `g` for `outputs`/`updates` (default: the graph's named outputs), with `.report`:
    the same pipeline `gn.compile` runs before lowering."""
    _, opt, report = prepare(g, outputs, updates, target=target, mode=mode, passes=passes, stability=stability,
                             validate=validate, keep_graphs=keep_graphs, caller="gn.optimize")
    opt.report = report
    return opt
