"""The shared planner-driven loop over an array module `xp`: feeds are checked, symbolic dims bound,
a flat `Plan` of kernel closures is built once per binding, and each call just runs it.

Imports graphnn.ir and the kernel tables; used by the NumPy and CuPy backends alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..ir.errors import BackendError, FeedError, NumericsError
from ..ir.graph import Graph, Node, Value
from ..ir.types import format_shape


@dataclass
class Step:
    """One kernel call: reads slots `ins`, writes slots `outs`."""

    fn: Callable[..., Any]
    ins: tuple[int, ...]
    outs: tuple[int, ...]
    node: Node


@dataclass
class Plan:
    """A flat schedule over numbered slots; everything here was decided before the first call."""

    steps: list[Step]
    n_slots: int
    slot_of: dict[int, int]  # value id -> slot
    input_slots: list[tuple[str, int]]
    store_slots: list[tuple[str, int]]  # params/state read from storage
    const_slots: list[tuple[int, Any]]
    output_slots: list[tuple[str, int]]
    update_slots: list[tuple[str, int]]
    env: dict[str, int] = field(default_factory=dict)


def build_plan(g: Graph, xp: Any, kernels: dict[str, Any], env: dict[str, int]) -> Plan:
    """Lower `g` (already optimized) to a flat plan with every kernel specialized to `env`."""
    slot_of: dict[int, int] = {}

    def slot(v: Value) -> int:
        if v.id not in slot_of:
            slot_of[v.id] = len(slot_of)
        return slot_of[v.id]

    inputs = [(v.name, slot(v)) for v in g.inputs]
    stores = [(v.name, slot(v)) for v in g.params + g.state]
    consts = [(slot(v), xp.asarray(g.constants[v.id])) for v in g.const_values]
    steps = []
    missing = sorted({n.op for n in g.nodes if n.op not in kernels})
    if missing:
        raise BackendError(f"no kernel for op(s) {', '.join(missing)} on this backend")
    for n in g.nodes:
        fn = kernels[n.op](xp, n, env)
        steps.append(Step(fn, tuple(slot(v) for v in n.inputs), tuple(slot(v) for v in n.outputs), n))
    outs = [(k, slot(v)) for k, v in g.outputs.items()]
    ups = [(k, slot(v)) for k, v in g.updates.items()]
    return Plan(steps, len(slot_of), slot_of, inputs, stores, consts, outs, ups, dict(env))


def bind_feeds(g: Graph, feeds: dict[str, Any], asarray: Callable[[Any, str], Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Check every feed against its input's type before anything runs; return arrays and the dim binding."""
    names = {v.name for v in g.inputs}
    unknown = sorted(set(feeds) - names)
    missing = [v.name for v in g.inputs if v.name not in feeds]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing feed(s) {missing}")
        if unknown:
            parts.append(f"unknown feed(s) {unknown}")
        raise FeedError(f"graph {g.name!r}: {'; '.join(parts)}; inputs are {sorted(names)}")
    env: dict[str, int] = {}
    where: dict[str, str] = {}
    arrays: dict[str, Any] = {}
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
                    raise FeedError(f"feed {v.name!r}: axis {ax} has size {n}, input {v.name}: {t} needs {d}")
            elif d in env and env[d] != n:
                raise FeedError(
                    f"feed {v.name!r}: symbolic dim {d!r} is {n} at axis {ax} but {env[d]} in {where[d]}"
                )
            else:
                env[d] = n
                where[d] = f"feed {v.name!r} axis {ax}"
        arrays[v.name] = a
    return arrays, env


def check_finite(xp: Any, step: Step, outs: tuple) -> None:
    """Raise NumericsError naming the node if an output holds NaN or inf."""
    for o in outs:
        if getattr(o, "dtype", None) is not None and o.dtype.kind == "f" and not bool(xp.all(xp.isfinite(o))):
            n = step.node
            raise NumericsError(f"node {n.name} (op {n.op}) at {n.location} produced non-finite values "
                                f"in an output of shape {format_shape(tuple(o.shape))}")


def run_plan(plan: Plan, xp: Any, feeds: dict[str, Any], storage: Any, check_numerics: bool = False,
             on_step: Callable[[Step, tuple], None] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Execute the plan; returns (outputs, new values for updated params/state). Writes nothing."""
    slots: list[Any] = [None] * plan.n_slots
    for name, s in plan.input_slots:
        slots[s] = feeds[name]
    for name, s in plan.store_slots:
        slots[s] = storage[name]
    for s, a in plan.const_slots:
        slots[s] = a
    with np.errstate(all="ignore"):
        for st in plan.steps:
            res = st.fn(*[slots[i] for i in st.ins])
            outs = res if len(st.outs) > 1 else (res,)
            if check_numerics:
                check_finite(xp, st, outs)
            if on_step is not None:
                on_step(st, outs)
            for i, o in zip(st.outs, outs):
                slots[i] = o
    return ({k: slots[s] for k, s in plan.output_slots}, {k: slots[s] for k, s in plan.update_slots})
