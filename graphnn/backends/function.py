"""`Function`, what `gn.compile` returns: checks feeds with a generated fast validator, picks the plan for
the bound symbolic dims (built once, cached), runs it; `profile` times every node on the observable path.

Imports graphnn.ir and the executor.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..ir.builder import user_location
from ..ir.errors import FeedError, NumericsError
from ..ir.graph import Graph
from ..ir.op_registry import registry
from ..ir.types import DimEnv, DimProduct, dim_value
from .executor import Plan, bind_feeds, build_plan, run_plan
from .profile import Profile

MAX_PLANS = 8  # distinct batch sizes kept with their buffers; older ones are dropped


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**40


# A feed (a zero-stride broadcast view, say) larger than the machine's memory would make the plan hang.
MAX_FEED_BYTES = _memory_bytes()


def unit_range_inputs(g: Graph) -> dict[str, str]:
    """Inputs fed straight to an op's `unit_range` input (a BCE target): {input name: op}; their values must
    lie in [0, 1]."""
    names = {v.id: v.name for v in g.inputs}
    ops = registry()
    return {names[v.id]: n.op for n in g.nodes if (k := ops[n.op].unit_range) is not None
            and (v := n.inputs[k]).id in names}


def _in_unit_range(x: Any) -> bool:
    # A feed too large to scan is refused by its size when the plan is made (_check_binding), not scanned here.
    return x.size == 0 or x.nbytes > MAX_FEED_BYTES or bool((x.min() >= 0) & (x.max() <= 1))


def check_feed_values(g: Graph, arrays: dict[str, Any], env: dict[str, int]) -> None:
    """What the types cannot say about values: BCE targets outside [0, 1]."""
    for name, op in unit_range_inputs(g).items():
        a = arrays[name]
        if not _in_unit_range(a):
            raise FeedError(f"feed {name!r}: {op} targets must lie in [0, 1], got values in "
                            f"[{float(a.min())}, {float(a.max())}]\n  at: {user_location()}")


def _check_binding(g: Graph, env: dict[str, int]) -> None:
    """Before a plan is built for a new binding of the symbolic dims: no empty batch, no unplannable size."""
    for v in g.inputs:
        shape = v.type.concrete(env)
        nbytes = math.prod(shape) * np.dtype(v.type.dtype).itemsize
        empty = [d for d in v.type.shape if isinstance(d, str) and dim_value(d, env) == 0]
        if empty:  # a declared size of 0 is the user's choice; a batch dim bound to 0 is an empty batch
            raise FeedError(f"feed {v.name!r} is empty (shape {shape}, dim {empty[0]!r} = 0): a batch needs at least "
                            f"one row (an empty batch gives a meaningless loss, yet a step would still move the "
                            f"parameters)\n  at: {user_location()}")
        if nbytes > MAX_FEED_BYTES:
            raise FeedError(f"feed {v.name!r}: shape {shape} is {nbytes / 2**30:.0f} GiB of {v.type.dtype}, more "
                            f"than this machine's {MAX_FEED_BYTES / 2**30:.0f} GiB of memory; planning it would "
                            f"not finish (a zero-stride broadcast feed? pass the real rows)\n  at: {user_location()}")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a compile or planning step. Those allocate many objects while
    the graph they work on stays alive, and every full collection re-scans the whole heap: measured on the
    64-block residual net, 40 % more CPU time and a growth per doubling above 2x. Nothing they free is cyclic
    garbage that could not wait for the collector's next run."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _product_checks(products: list[tuple[DimProduct, str]], dims: list[str]) -> list[str]:
    """Generated lines checking feed sizes at product dims, solving one unbound factor by exact division; any
    case they cannot settle returns None, which sends the feeds to `bind_feeds` and its explained errors."""
    lines: list[str] = []
    pending = list(products)
    while pending:
        left = []
        for d, var in pending:
            free = [s for s in d.symbols if s not in dims]
            known = " * ".join([str(d.factor)] + [f"d{dims.index(s)}" for s in d.symbols if s in dims])
            if not free:
                lines.append(f"    if {var} != {known}: return None")
            elif len(free) == 1:
                lines += [f"    q = {known}", f"    if q == 0 or {var} % q: return None",
                          f"    d{len(dims)} = {var} // q"]
                dims.append(free[0])
            else:
                left.append((d, var))
        if len(left) == len(pending):
            return lines + ["    return None"]
        pending = left
    return lines


def _make_validator(g: Graph, array_type: type) -> tuple[Any, list[str]]:
    """Generated `check(F) -> dims tuple | None`: None sends the feeds to the full, explaining check."""
    dims: list[str] = []
    ns: dict[str, Any] = {"A": array_type, "U": _in_unit_range}
    unit = unit_range_inputs(g)
    lines = ["def check(F):", f"    if len(F) != {len(g.inputs)}: return None"]
    products: list[tuple[DimProduct, str]] = []  # product dims (`B*T`) at feed axes, checked after the plain dims
    for i, v in enumerate(g.inputs):
        t = v.type
        ns[f"D{i}"] = np.dtype(t.dtype)
        lines += [f"    x = F.get({v.name!r})",
                  f"    if x.__class__ is not A or x.dtype is not D{i} or x.ndim != {t.rank}: return None"]
        if t.rank:
            lines.append("    s = x.shape")
        for ax, d in enumerate(t.shape):
            if isinstance(d, int):
                lines.append(f"    if s[{ax}] != {d}: return None")
            elif isinstance(d, DimProduct):
                lines.append(f"    p{len(products)} = s[{ax}]")
                products.append((d, f"p{len(products)}"))
            elif d in dims:
                lines.append(f"    if s[{ax}] != d{dims.index(d)}: return None")
            else:
                lines.append(f"    d{len(dims)} = s[{ax}]")
                dims.append(d)
        if v.name in unit:
            lines.append("    if not U(x): return None")
    lines += _product_checks(products, dims)
    lines.append(f"    return ({''.join(f'd{i}, ' for i in range(len(dims)))})")
    exec(compile("\n".join(lines), f"<graphnn feeds {g.name}>", "exec"), ns)  # noqa: S102 - generated above
    return ns["check"], dims


class Function:
    """A compiled graph: call it with feeds as keyword arguments; returns a dict of output arrays."""

    def __init__(self, source: Graph, graph: Graph, report: Any, backend: Any, *,
                 check_numerics: bool = False, mode: str = "train", host_outputs: bool = False,
                 pipeline_input: Graph | None = None, explain_numerics: Any = None) -> None:
        self.source = source
        self.graph = graph
        self.backend = backend
        self.check_numerics = check_numerics
        self.mode = mode
        # Device backends return device arrays; host_outputs=True copies the outputs to NumPy arrays.
        self.host_outputs = host_outputs and getattr(backend, "to_output", None) is not None
        self._report = report
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()
        self._check, self._dims = _make_validator(graph, type(backend.xp.empty(0)))
        self.explain_numerics = explain_numerics  # (fn, feeds, error) -> NumericsError with the diagnosis
        self.pipeline_input = pipeline_input  # the graph the pipeline started from (viz/debug re-run it)
        self.planning_seconds = 0.0  # time spent building plans (first call per binding of the symbolic dims)
        self._errstate = backend.xp.errstate if hasattr(backend.xp, "errstate") else np.errstate

    @property
    def storage(self) -> Any:
        """The parameter and state storage, shared with the source graph and every function compiled from it."""
        return self.source.storage

    def report(self) -> Any:
        """What each pass did (prints as a table)."""
        return self._report

    def plan_for(self, env: dict[str, int], inplace: bool = True) -> Plan:
        """The plan for this binding of the symbolic dims (built on first use, then cached)."""
        key = (tuple(env.get(d) for d in self._dims), inplace)
        plan = self._plans.get(key)
        if plan is None:
            _check_binding(self.graph, env)
            t0 = time.perf_counter()
            with gc_paused():
                plan = build_plan(self.graph, self.backend.xp, self.backend.kernels, env,
                                  out_kernels=getattr(self.backend, "out_kernels", None),
                                  storage=self.backend.storage_view(self.storage), inplace_updates=inplace)
            self.planning_seconds += time.perf_counter() - t0
            if self._report is not None and hasattr(self._report, "planning_seconds"):
                self._report.planning_seconds = self.planning_seconds
            self._plans[key] = plan
            if len(self._plans) > MAX_PLANS:
                self._plans.popitem(last=False)
        return plan

    def __call__(self, **feeds: Any) -> dict[str, Any]:
        """Run one step: feeds by input name -> {output name: array}; updates are written into storage."""
        if self.host_outputs:
            to = self.backend.to_output
            return {k: to(a, True) for k, a in self._call(feeds).items()}
        # The common case inline (one Python frame fewer per step); _call has the same logic
        dims = None if self.check_numerics else self._check(feeds)
        if dims is not None:
            plan = self._plans.get((dims, True))
            if plan is not None:
                out = plan.run_fast(feeds, self.backend.storage_view(self.storage), self.storage)
                if out is not None:
                    return out
        return self._call(feeds)

    def sync_to_host(self) -> None:
        """Copy device-resident parameters and state back into the graph's host storage (no-op on NumPy)."""
        sync = getattr(self.backend, "sync_to_host", None)
        if sync is not None:
            sync(self.storage)

    def _call(self, feeds: dict[str, Any]) -> dict[str, Any]:
        dims = None if self.check_numerics else self._check(feeds)
        if dims is None:
            return self._call_checked(feeds)
        plan = self._plans.get((dims, True))
        if plan is None:
            plan = self.plan_for(DimEnv(zip(self._dims, dims)))
        out = plan.run_fast(feeds, self.backend.storage_view(self.storage), self.storage)  # quiet: see build_plan
        if out is None:  # a parameter array was replaced in storage (e.g. a new learning rate)
            self._rebind(plan)
            return self._call_checked(feeds)
        return out

    def _rebind(self, plan: Plan) -> None:
        """Storage got a new array for a parameter or state the plans are built on: same shape and dtype ->
        its values go into the plan's array, which goes back into storage (no recompile); otherwise rebuild."""
        sv = self.backend.storage_view(self.storage)
        for name, bound in plan.bound.items():
            new = sv.get(name)
            if new is bound:
                continue
            if new is not None and getattr(new, "shape", None) == bound.shape and getattr(new, "dtype", None) == bound.dtype:
                self.backend.xp.copyto(bound, self.backend.xp.asarray(new))
                sv[name] = bound
                self.storage.version += 1
            else:
                self._plans.clear()
                return

    def _call_checked(self, feeds: dict[str, Any]) -> dict[str, Any]:
        try:
            arrays, env = bind_feeds(self.graph, feeds, self.backend.asarray)
        except FeedError as e:  # the user's line is the call that passed these feeds
            raise FeedError(f"{e}\n  at: {user_location()}") from None
        check_feed_values(self.graph, arrays, env)
        if self.check_numerics:
            try:
                return self._run_observed(arrays, env)
            except NumericsError as e:  # gn.compile installs graphnn.checking.debug's explainer (names node, stats)
                if self.explain_numerics is None:
                    raise
                raise self.explain_numerics(self, feeds, e) from None
        plan = self.plan_for(env)
        out = plan.run_fast(arrays, self.backend.storage_view(self.storage), self.storage)
        if out is None:
            self._rebind(plan)
            plan = self.plan_for(env)
            out = plan.run_fast(arrays, self.backend.storage_view(self.storage), self.storage)
        return out

    def _run_observed(self, arrays: dict[str, Any], env: dict[str, int], on_step: Any = None,
                      on_start: Any = None) -> dict[str, Any]:
        # No in-place updates here, so a NaN found midway leaves parameters and state untouched.
        plan = self.plan_for(env, inplace=False)
        outs, news = run_plan(plan, self.backend.xp, arrays, self.backend.storage_view(self.storage),
                              self.check_numerics, on_step, on_start)
        if len(news) > 1:  # a new value may be another updated parameter's own array (a swap): copy it first
            store = self.backend.storage_view(self.storage)
            msm = self.backend.xp.may_share_memory
            news = {k: (v.copy() if any(msm(v, store[o]) for o in news if o != k) else v) for k, v in news.items()}
        if news:  # an output may be (a view of) an array about to be updated: return its pre-update value
            store = self.backend.storage_view(self.storage)
            msm = self.backend.xp.may_share_memory
            outs = {k: (v.copy() if any(msm(v, store[o]) for o in news) else v) for k, v in outs.items()}
        for name, new in news.items():  # all computed from pre-update values; now written
            self.backend.write_back(self.storage, name, new)
        return outs

    def profile(self, feeds: dict[str, Any] | None = None, repeat: int = 10, **kw: Any) -> Profile:
        """Run `repeat` times node by node; per-node (and per fused kernel) time shares, printable as a table."""
        feeds = dict(feeds or {}, **kw)
        arrays, env = bind_feeds(self.graph, feeds, self.backend.asarray)
        prof = Profile(host=getattr(self.backend.xp, "__name__", "") == "numpy")
        sync = getattr(self.backend, "synchronize", None)
        last = [0.0]

        def on_step(step: Any, outs: tuple) -> None:
            if sync is not None:
                sync()
            now = time.perf_counter()
            prof.add(step.node, now - last[0], env)
            last[0] = time.perf_counter()

        def on_start() -> None:
            last[0] = time.perf_counter()

        saved = {k: a.copy() for k, a in self.backend.storage_view(self.storage).items()}
        try:
            self._run_observed(arrays, env)  # warm-up: builds the plan and the per-node functions
            for _ in range(repeat):
                self._run_observed(arrays, env, on_step, on_start)
        finally:  # profiling measures; it does not train
            for k, a in saved.items():
                self.backend.write_back(self.storage, k, a)
        prof.runs = repeat
        return prof

    def plan_summary(self, **feeds: Any) -> Plan:
        """The plan these feeds would run (kernel calls, buffer bytes vs the naive sum)."""
        _, env = bind_feeds(self.graph, feeds, self.backend.asarray)
        return self.plan_for(env)

    def __repr__(self) -> str:
        return (f"<Function {self.graph.name!r} backend={self.backend.name} mode={self.mode} "
                f"nodes={len(self.graph.nodes)} outputs={list(self.graph.outputs)}>")
