"""The shared planner-driven executor over an array module `xp`: feeds are checked, symbolic dims bound,
and a flat `Plan` is built once per binding (kernels specialized, buffers planned and allocated, views taken),
then compiled to one straight-line Python function; a call runs that function and nothing else.

Imports graphnn.ir, the memory planner from graphnn.passes, and a backend's kernel tables (passed in).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir.errors import BackendError, FeedError, NumericsError
from ..ir.graph import Graph, Node
from ..ir.op_registry import registry
from ..ir.types import DimEnv, DimProduct, dim_value, format_shape
from ..passes.memory_planning import MemoryPlan, StepUse, hoist_updates, lifetimes, plan_memory
from .codegen import Dyn, Emitter
from .destination import CallContext
from .nonblocking import defer_overlapped, overlap_lines

# Ops whose plain kernel returns a view of input 0 (Op.view; taken once at plan time when the input is fixed).
VIEW_OPS = frozenset(name for name, op in registry().items() if op.view)


@dataclass
class Step:
    """One node of the schedule: its generated code runs its calls; `fetch()` returns its output arrays."""

    node: Node
    lines: list[str]
    out_refs: list[str]
    run: Callable[[], None] | None = None
    fetch: Callable[[], tuple] | None = None
    fast: list[str] | None = None  # the fast path's lines when they differ (a non-blocking collective's start)


@dataclass
class Plan:
    """Everything decided before the first call: kernels, buffers, views, and the compiled step function."""

    steps: list[Step]
    env: dict[str, int]
    memory: MemoryPlan | None
    run_fast: Callable[..., Any]  # (feeds, storage values, storage) -> outputs dict, or None if storage moved
    regs: list[Any]
    input_regs: list[tuple[str, int]]
    inplace_updates: bool
    copy_updates: list[tuple[str, str]]  # (param name, ref of its new value), written after all steps
    scratch_bytes: int = 0
    n_calls: int = 0
    emitter: Emitter | None = field(default=None, repr=False)
    output_refs: dict[str, str] = field(default_factory=dict)
    update_refs: dict[str, str] = field(default_factory=dict)
    store_regs: list[tuple[str, int]] = field(default_factory=list)
    bound: dict[str, Any] = field(default_factory=dict)  # parameter/state arrays the code was built on
    # A kernel's process-wide setting held for a whole run (conv_gemm.BlasSession's BLAS thread pin) is undone
    # when the run ends (`on_end`) and when it stops midway (`on_error`); kernels offer these as `on_plan_end` /
    # `on_plan_error` methods of an object they leave in CallContext.facts.
    on_error: tuple[Callable[[], None], ...] = ()
    on_end: tuple[Callable[[], None], ...] = ()

    def summary(self) -> str:
        m = self.memory
        mem = f", buffers {m.peak_bytes / 1e6:.2f} MB vs naive {m.naive_bytes / 1e6:.2f} MB" if m else ""
        return f"plan: {len(self.steps)} nodes, {self.n_calls} kernel calls per run{mem}"


def _shape(v: Any, env: dict) -> tuple[int, ...] | None:
    try:
        return tuple(dim_value(d, env) for d in v.type.shape)
    except KeyError:
        return None


@dataclass
class _Lowering:
    """What the planning steps decide, in the order they decide it (one per `build_plan` call)."""

    g: Graph
    xp: Any
    kernels: dict[str, Any]
    env: dict[str, int]
    nodes: list[Node] = field(default_factory=list)  # the schedule
    fixed: dict[int, Any] = field(default_factory=dict)  # value id -> array known at plan time
    okern: dict[int, Any] = field(default_factory=dict)  # node id -> out kernel (planned nodes)
    views: set[int] = field(default_factory=set)  # node ids whose view is taken once at plan time
    folded: set[int] = field(default_factory=set)  # node ids computed at plan time
    alias: dict[int, int] = field(default_factory=dict)  # view -> base: the base lives as long as the view
    sizes: dict[int, int] = field(default_factory=dict)  # planned value id -> bytes
    uses: list[StepUse] = field(default_factory=list)  # per scheduled node: reads, planned writes, sharing
    last: dict[int, int] = field(default_factory=dict)  # value id -> last step reading it
    external: dict[int, str] = field(default_factory=dict)  # new value id -> parameter it is written into
    live_to_end: set[int] = field(default_factory=set)
    mem: MemoryPlan | None = None


def schedule(g: Graph) -> list[Node]:
    """The node order: updates hoisted to run as soon as they can (O(E + n log n)); nodes reading integer
    values (labels, indices) validate them, so they run before any in-place update."""
    pids = {v.name: v.id for v in g.params + g.state}
    nodes = hoist_updates(g.nodes, {nv.id: pids[k] for k, nv in g.updates.items()}, VIEW_OPS,
                          barrier=lambda n: any(v.dtype.startswith(("int", "uint")) for v in n.inputs))
    return defer_overlapped(nodes)


def classify(lo: _Lowering, out_kernels: dict[str, Any]) -> None:
    """Decide per node, in one O(n + E) walk: folded (all inputs constant: computed now), view (taken once, of
    an array known at plan time), planned (out kernel into a buffer) or plain (a fresh result in a register)."""
    xp, env, kernels, fixed = lo.xp, lo.env, lo.kernels, lo.fixed
    static = set(fixed)  # value ids whose array exists at plan time
    contig: dict[int, bool] = {vid: bool(a.flags.c_contiguous) for vid, a in fixed.items() if hasattr(a, "flags")}
    pconst = {v.id for v in lo.g.const_values}  # depends on constants and the dim binding only
    for n in lo.nodes:
        o = n.outputs[0]
        shp = _shape(o, env)
        planned = False
        if n.inputs and all(v.id in pconst for v in n.inputs) and not n.tags & {"random"}:
            # e.g. the element count a mean's gradient divides by: computed once per binding, here
            outs = kernels[n.op](xp, n, env)(*[fixed[v.id] for v in n.inputs])
            for v, a in zip(n.outputs, outs if len(n.outputs) > 1 else (outs,)):
                fixed[v.id] = a
                pconst.add(v.id)
                static.add(v.id)
                contig[v.id] = bool(getattr(a, "flags", None) is not None and a.flags.c_contiguous)
            lo.folded.add(n.id)
            lo.uses.append(StepUse(tuple(v.id for v in n.inputs), (), {}))
            continue
        if n.op in VIEW_OPS:
            base = n.inputs[0]
            lo.alias[o.id] = base.id
            if base.id in static and (n.op != "reshape" or contig.get(base.id, False)):
                lo.views.add(n.id)
                static.add(o.id)
                contig[o.id] = registry()[n.op].keeps_layout
        elif len(n.outputs) == 1 and shp is not None and n.op in out_kernels:
            ok = out_kernels[n.op](xp, n, env)
            if ok is not None:
                lo.okern[n.id] = ok
                planned = True
                static.add(o.id)
                contig[o.id] = True
                lo.sizes[o.id] = int(np.prod(shp, dtype=np.int64)) * np.dtype(o.dtype).itemsize
        share: dict[int, tuple[int, ...]] = {}
        if planned and lo.okern[n.id].inplace:
            pos = lo.okern[n.id].share_inputs
            share[o.id] = tuple(v.id for i, v in enumerate(n.inputs) if v.type == o.type and (pos is None or i in pos))
        pins = None
        if not planned and n.id not in lo.views:  # e.g. `cond` returning its input: keep the inputs alive
            pins = (tuple(v.id for v in n.outputs), tuple(v.id for v in n.inputs))
        lo.uses.append(StepUse(tuple(v.id for v in n.inputs), (o.id,) if planned else (), share, pins))


def place_updates(lo: _Lowering, inplace_updates: bool) -> None:
    """Write an update straight into its parameter where the old value is no longer read once the new one
    exists (and shape and dtype agree); the rest are copied after the step. O(n + E)."""
    g, fixed, uses = lo.g, lo.fixed, lo.uses
    out_ids = {v.id for v in g.outputs.values()}
    lo.last = last = lifetimes(uses, lo.alias, out_ids)
    pos = {o.id: k for k, n in enumerate(lo.nodes) for o in n.outputs}
    pvals = {v.name: v for v in g.params + g.state}
    for name, nv in g.updates.items():
        p = pvals[name]
        if not inplace_updates or nv.id not in lo.sizes or nv.id in lo.external or p.id not in fixed:
            continue
        k = pos[nv.id]
        lp = last.get(p.id, -1)
        if p.id in out_ids or lp > k:
            continue
        if lp == k and p.id not in uses[k].may_share.get(nv.id, ()):
            continue
        if tuple(fixed[p.id].shape) != _shape(nv, lo.env) or fixed[p.id].dtype != np.dtype(nv.dtype):
            continue
        lo.external[nv.id] = name
        del lo.sizes[nv.id]
        uses[k] = StepUse(uses[k].reads, (), {})
    lo.live_to_end = out_ids | {v.id for v in g.updates.values() if v.id not in lo.external}


def allocate(lo: _Lowering) -> None:
    """Plan buffers by liveness (`plan_memory`, O(n log n)), allocate them, give every planned value its
    array (one array object per buffer, shape and dtype: in-place reads as such)."""
    lo.mem = mem = plan_memory(lo.uses, lo.sizes, lo.alias, lo.live_to_end) if lo.sizes else None
    if mem is not None:
        out_of = {o.id: o for n in lo.nodes for o in n.outputs}
        arenas = [lo.xp.empty(b, dtype=np.uint8) for b in mem.buffer_bytes]
        made: dict[tuple, Any] = {}
        for vid, b in mem.buffer_of.items():
            v = out_of[vid]
            key = (b, _shape(v, lo.env), v.dtype)
            if key not in made:
                made[key] = arenas[b][:lo.sizes[vid]].view(v.dtype).reshape(key[1])
            lo.fixed[vid] = made[key]
    pids = {v.name: v.id for v in lo.g.params + lo.g.state}
    for vid, name in lo.external.items():
        lo.fixed[vid] = lo.fixed[pids[name]]


def emit(lo: _Lowering, em: Emitter, inplace_updates: bool) -> Plan:
    """Generate the code, node by node, and compile it to one straight-line function. O(n + E)."""
    g, xp, env, kernels, fixed = lo.g, lo.xp, lo.env, lo.kernels, lo.fixed
    sizes, alias, last = lo.sizes, lo.alias, lo.last
    steps: list[Step] = []
    reg_of: dict[int, int] = {}

    def ref(v: Any) -> Any:
        if v.id in fixed:
            return fixed[v.id]
        if v.id not in reg_of:
            reg_of[v.id] = len(em.R)
            em.R.append(None)
        return Dyn(reg_of[v.id])

    input_regs = [(v.name, ref(v).index) for v in g.inputs]
    # Parameters not bound at plan time (no storage given) are read from storage on every run.
    store_regs = [(v.name, ref(v).index) for v in g.params + g.state if v.id not in fixed]
    scratch = 0
    shared: dict[tuple, Any] = {}
    facts: dict[tuple, Any] = {}  # filled by kernels in schedule order: later nodes reuse earlier by-products

    def shared_scratch(shape: tuple, dtype: str, k: int) -> Any:
        key = (tuple(shape), dtype, k)
        if key not in shared:
            shared[key] = xp.empty(shape, dtype)
        return shared[key]

    in_flight: list[tuple[Any, set[int]]] = []  # non-blocking collectives started, not yet waited for
    reused: set[int] = set()  # their outputs: views of a buffer the kernel reuses, so copied when returned
    for k, n in enumerate(lo.nodes):
        lines: list[str] = []
        if n.id in lo.okern:
            ok = lo.okern[n.id]
            ins = [ref(v) for v in n.inputs]
            if getattr(ok, "takes_context", False):
                # inputs in planned buffers whose last read (views included) is here may be overwritten
                clob = frozenset(i for i, v in enumerate(n.inputs) if v.id in sizes and v.id not in alias
                                 and last.get(v.id) == k and v.id not in lo.live_to_end)
                calls = ok.calls(ins, fixed[n.outputs[0].id],
                                 CallContext(shared_scratch, clob, tuple(v.id for v in n.inputs), facts))
            else:
                calls = ok.calls(ins, fixed[n.outputs[0].id])
            for fn, args, kw in calls:
                lines.append(em.call(fn, args, kw))
            scratch += ok.scratch_bytes
        elif n.id in lo.folded:
            pass
        elif n.id in lo.views:
            fixed[n.outputs[0].id] = kernels[n.op](xp, n, env)(fixed[n.inputs[0].id])
        else:
            fn = kernels[n.op](xp, n, env)
            targets = [em.name(ref(o)) for o in n.outputs]
            lines.append(em.assign(targets, fn, [ref(v) for v in n.inputs], multi=len(n.outputs) > 1))
            if "overlap" in n.tags and getattr(fn, "nonblocking", False):  # fast path: start now, wait later
                start = em.assign(targets, fn.start, [ref(v) for v in n.inputs], multi=len(n.outputs) > 1)
                fast = overlap_lines(em, n, [start], in_flight)
                in_flight.append((fn, {o.id for o in n.outputs}))
                reused.update(o.id for o in n.outputs)
                steps.append(Step(n, lines, [em.name(ref(o)) for o in n.outputs], fast=fast or [start]))
                continue
        fast = overlap_lines(em, n, lines, in_flight) if in_flight else None
        steps.append(Step(n, lines, [em.name(ref(o)) for o in n.outputs], fast=fast))
    if in_flight:  # read only as outputs (the loss): finished before the outputs are taken
        steps[-1].fast = (steps[-1].fast or steps[-1].lines) + [em.call(fn.wait, (), {}) for fn, _ in in_flight]

    scratch += sum(a.nbytes for a in shared.values())
    external = lo.external
    copy_updates = [(name, em.name(ref(nv))) for name, nv in g.updates.items() if nv.id not in external]
    output_refs = {k: em.name(ref(v)) for k, v in g.outputs.items()}
    fixed_out = {k for k, v in g.outputs.items() if v.id in fixed or v.id in reused}
    update_refs = {name: em.name(ref(nv)) for name, nv in g.updates.items()}
    params = {v.name: fixed[v.id] for v in g.params + g.state if v.id in fixed}
    run_fast = em.compile_run(steps, input_regs, store_regs, output_refs, fixed_out, copy_updates, params,
                              bool(g.updates), xp.copyto, xp.may_share_memory)
    # Quiet floating-point warnings (non-finite values are check_numerics' business); as a decorator,
    # np.errstate costs a third of a `with np.errstate(...)` block per call.
    run_fast = np.errstate(all="ignore")(run_fast)
    on_error = tuple(f.on_plan_error for f in facts.values() if hasattr(f, "on_plan_error"))
    on_end = tuple(f.on_plan_end for f in facts.values() if hasattr(f, "on_plan_end"))
    run_fast = guard_run(run_fast, on_error, on_end)
    n_calls = sum(len(s.lines) for s in steps)
    return Plan(steps, dict(env), lo.mem, run_fast, em.R, input_regs, inplace_updates, copy_updates, scratch,
                n_calls, em, output_refs, update_refs, store_regs, params, on_error, on_end)


def guard_run(run: Callable[..., Any], on_error: tuple[Callable[[], None], ...],
              on_end: tuple[Callable[[], None], ...]) -> Callable[..., Any]:
    """`run` followed by the kernels' end-of-run hooks, or, when it raises, their undo hooks first; `run` itself
    when there are none (one frame more only for plans with such kernels: convolutions, milliseconds a call)."""
    if not on_error and not on_end:
        return run

    def guarded(*args: Any) -> Any:
        try:
            out = run(*args)
        except BaseException:
            for f in on_error:
                f()
            raise
        for f in on_end:
            f()
        return out

    return guarded


def build_plan(g: Graph, xp: Any, kernels: dict[str, Any], env: dict[str, int], *,
               out_kernels: dict[str, Any] | None = None, storage: Any = None, inplace_updates: bool = True) -> Plan:
    """Lower optimized `g` to a plan specialized to `env`; `out_kernels` enables memory planning. The steps, in
    order: schedule, classify, place updates, allocate buffers, emit code. O(n log n + E) in all."""
    missing = sorted({n.op for n in g.nodes if n.op not in kernels})
    if missing:
        raise BackendError(f"no kernel for op(s) {', '.join(missing)} on this backend")
    lo = _Lowering(g, xp, kernels, env, schedule(g))
    for v in g.params + g.state:
        if storage is not None and v.name in storage:
            lo.fixed[v.id] = storage[v.name]
    for v in g.const_values:
        lo.fixed[v.id] = xp.asarray(g.constants[v.id])
    classify(lo, out_kernels or {})
    place_updates(lo, inplace_updates)
    allocate(lo)
    return emit(lo, Emitter(), inplace_updates)


def bind_feeds(g: Graph, feeds: dict[str, Any], asarray: Callable[[Any, str], Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Check every feed against its input's type before anything runs; return arrays and the dim binding."""
    names = {v.name for v in g.inputs}
    ignored = g.facts.ignored_inputs
    if ignored:  # declared inputs this function does not read: accepted, not required
        feeds = {k: a for k, a in feeds.items() if k not in ignored}
    unknown = sorted(set(feeds) - names)
    missing = [v.name for v in g.inputs if v.name not in feeds]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing feed(s) {missing}")
        if unknown:
            parts.append(f"unknown feed(s) {unknown}")
        also = f" (also accepted, unused here: {sorted(ignored)})" if ignored else ""
        raise FeedError(f"graph {g.name!r}: {'; '.join(parts)}; inputs are {sorted(names)}{also}")
    env: dict[str, int] = DimEnv()
    where: dict[str, str] = {}
    arrays: dict[str, Any] = {}
    products: list[tuple[Any, int, int, str]] = []  # (product dim, size, axis, feed name): checked once all are read
    for v in g.inputs:
        t = v.type
        a = asarray(feeds[v.name], t.dtype)
        if a.dtype.name != t.dtype:
            raise FeedError(
                f"feed {v.name!r}: dtype {a.dtype.name}, input expects {t.dtype} "
                f"(graphnn does not convert silently; pass {v.name}.astype('{t.dtype}'))"
            )
        if a.ndim != t.rank:
            raise FeedError(f"feed {v.name!r}: rank {a.ndim} shape {a.shape}, input expects {t} (rank {t.rank})")
        for ax, (d, n) in enumerate(zip(t.shape, a.shape)):
            if isinstance(d, int):
                if d != n:
                    hint = (" (gn.trace fixed this size from the example input; gn.trace(..., symbolic_batch=True) "
                            "keeps the leading dim symbolic)") if ax == 0 and "traced" in g.meta else ""
                    raise FeedError(f"feed {v.name!r}: axis {ax} has size {n}, input {v.name}: {t} needs {d}{hint}")
            elif isinstance(d, DimProduct):
                products.append((d, n, ax, v.name))
            elif d in env and env[d] != n:
                raise FeedError(
                    f"feed {v.name!r}: symbolic dim {d!r} is {n} at axis {ax} but {env[d]} in {where[d]}"
                )
            else:
                env[d] = n
                where[d] = f"feed {v.name!r} axis {ax}"
        arrays[v.name] = a
    _bind_products(products, env, where)
    return arrays, env


def _bind_products(products: list[tuple[Any, int, int, str]], env: dict[str, int], where: dict[str, str]) -> None:
    """Feed sizes at product dims (`B*T`): check them against the bound factors, or solve the one unbound factor
    by exact division; a size that contradicts the product is a FeedError."""
    pending = list(products)
    while pending:
        left = []
        for d, n, ax, name in pending:
            free = [s for s in d.symbols if s not in env]
            known = d.factor * math.prod(env[s] for s in d.symbols if s in env)
            if not free:
                if known != n:
                    bound = ", ".join(f"{s} = {env[s]} ({where[s]})" for s in dict.fromkeys(d.symbols))
                    raise FeedError(f"feed {name!r}: axis {ax} has size {n}, but it is the product {d} = {known} "
                                    f"with {bound}")
            elif len(free) == 1:
                if known == 0 or n % known:
                    raise FeedError(f"feed {name!r}: axis {ax} has size {n}, which is not a multiple of {known}, "
                                    f"so it cannot be the product {d}")
                env[free[0]] = n // known
                where[free[0]] = f"feed {name!r} axis {ax} (as {d})"
            else:
                left.append((d, n, ax, name))
        if len(left) == len(pending):
            d, n, ax, name = left[0]
            raise FeedError(f"feed {name!r}: axis {ax} is the product {d}, whose factors no other feed binds; "
                            f"declare the input with its own dims")
        pending = left


def check_finite(xp: Any, step: Step, outs: tuple) -> None:
    """Raise NumericsError naming the node if an output holds NaN or inf."""
    for o in outs:
        if getattr(o, "dtype", None) is not None and o.dtype.kind == "f" and not bool(xp.all(xp.isfinite(o))):
            n = step.node
            raise NumericsError(f"node {n.name} (op {n.op}) at {n.location} produced non-finite values "
                                f"in an output of shape {format_shape(tuple(o.shape))}")


def run_plan(plan: Plan, xp: Any, feeds: dict[str, Any], storage: Any, check_numerics: bool = False,
             on_step: Callable[[Step, tuple], None] | None = None,
             on_start: Callable[[], None] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The slow, observable path: run step by step (hooks see every node's outputs); returns
    (outputs, new values of updated params/state) and writes nothing when the plan has no in-place updates."""
    em = plan.emitter
    assert em is not None
    for name, r in plan.input_regs:
        plan.regs[r] = feeds[name]
    for name, r in plan.store_regs:
        plan.regs[r] = storage[name]
    for st in plan.steps:
        if st.run is None:
            st.run, st.fetch = em.compile_step(st)
    with np.errstate(all="ignore"):
        if on_start is not None:
            on_start()
        try:
            for st in plan.steps:
                st.run()
                if check_numerics or on_step is not None:
                    outs = st.fetch()
                    if check_numerics:
                        check_finite(xp, st, outs)
                    if on_step is not None:
                        on_step(st, outs)
        except BaseException:
            for f in plan.on_error:
                f()
            raise
        for f in plan.on_end:
            f()
    outs = {k: em.value(r) for k, r in plan.output_refs.items()}
    outs = {k: (a.copy() if em.is_fixed(plan.output_refs[k]) else a) for k, a in outs.items()}
    news = {k: em.value(r) for k, r in plan.update_refs.items()}
    return outs, news

