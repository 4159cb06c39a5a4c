"""Liveness-based memory planning: first/last use of every planned value -> shared byte buffers.

Values whose lifetimes do not overlap share a buffer; an output may take over the buffer of an input that
dies at the same step when the kernel allows it (elementwise ops run in place). Views (reshape, transpose)
keep their base alive. Pure bookkeeping on ids and sizes, so every backend uses it. Imports graphnn.ir only.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepUse:
    """What one scheduled step reads and which of its outputs the planner must place."""

    reads: tuple[int, ...]  # value ids
    writes: tuple[int, ...]  # planned value ids (need a buffer)
    may_share: dict[int, tuple[int, ...]] = field(default_factory=dict)  # output id -> inputs it may overwrite
    # A kernel the planner knows nothing about may return (a view of) an input: its outputs pin its inputs.
    pins: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # (output ids, input ids)


@dataclass
class MemoryPlan:
    """value id -> buffer index, the byte size of every buffer, and what sharing happened."""

    buffer_of: dict[int, int]
    buffer_bytes: list[int]
    in_place: dict[int, int]  # output value id -> input value id whose buffer it took over
    naive_bytes: int  # every planned value in its own buffer

    @property
    def peak_bytes(self) -> int:
        return sum(self.buffer_bytes)


def lifetimes(steps: Sequence[StepUse], alias: dict[int, int], live_to_end: set[int]) -> dict[int, int]:
    """Last step index at which each root value (views resolved to their base) is read. O(steps + reads x
    view depth)."""
    def root(v: int) -> int:
        while v in alias:
            v = alias[v]
        return v

    last: dict[int, int] = {}
    for k, st in enumerate(steps):
        for v in st.reads:
            last[root(v)] = k
        for v in st.writes:
            last.setdefault(root(v), k)
    end = len(steps)
    for v in live_to_end:
        last[root(v)] = end
    for st in reversed(steps):  # reversed: a pinned output may itself be pinned by a later step
        if st.pins:
            outs, ins = st.pins
            until = max((last.get(root(o), -1) for o in outs), default=-1)
            for i in ins:
                r = root(i)
                if until > last.get(r, -1):
                    last[r] = until
    return last


def plan_memory(steps: Sequence[StepUse], sizes: dict[int, int], alias: dict[int, int] | None = None,
                live_to_end: set[int] | None = None) -> MemoryPlan:
    """Assign each planned value (a key of `sizes`) a buffer; greedy best fit over the schedule. The free
    buffers are a list sorted by (bytes, index), searched with bisect: O((steps + values) log values)."""
    alias = alias or {}
    last = lifetimes(steps, alias, live_to_end or set())
    buffer_of: dict[int, int] = {}
    nbytes: list[int] = []
    free: list[tuple[int, int]] = []  # (bytes, buffer index) of the free buffers, sorted
    in_place: dict[int, int] = {}
    dying: dict[int, list[int]] = {}  # step index -> planned values whose last read is that step
    for v, k in last.items():
        if v in sizes:
            dying.setdefault(k, []).append(v)
    for k, st in enumerate(steps):
        released = [v for v in dying.get(k, ()) if v in buffer_of]
        for o in st.writes:
            need = sizes[o]
            took = None
            for i in st.may_share.get(o, ()):
                if i in released and i in buffer_of and nbytes[buffer_of[i]] >= need and i not in alias:
                    took = i
                    break
            if took is not None:
                released.remove(took)
                buffer_of[o] = buffer_of[took]
                in_place[o] = took
                continue
            at = bisect.bisect_left(free, (need, -1))
            if at < len(free):  # the smallest free buffer that fits (the lowest index among equals)
                _, b = free.pop(at)
            elif free:
                _, b = free.pop()  # grow the largest free buffer
                nbytes[b] = need
            else:
                b = len(nbytes)
                nbytes.append(need)
            buffer_of[o] = b
        # Inputs that died here are free for later steps (not for this one: its outputs are written while
        # its inputs are read, except where the kernel allows in-place, handled above). An output nobody
        # reads dies here too.
        released += [o for o in st.writes if last.get(o) == k and o not in released and o not in st.reads]
        for v in released:
            bisect.insort(free, (nbytes[buffer_of[v]], buffer_of[v]))
    return MemoryPlan(buffer_of, nbytes, in_place, sum(sizes.values()))


def hoist_updates(nodes: Sequence[Any], updates: dict[int, int], view_ops: frozenset[str],
                  barrier: Any = None) -> list[Any]:
    """A schedule where each node computing a parameter's new value runs as soon as its inputs exist and
    every read of the old value (through views too) is done, so gradients die early and buffers are reused.
    `updates`: new value id -> parameter value id. Falls back to `nodes` when an update reads another
    updated parameter (moving it could change which value it sees). Nodes for which `barrier(node)` holds
    (kernels that validate data, e.g. labels) stay before every update, so a bad feed changes no state. Scalars
    read only by updates (the optimizers' guard) move with them, to right after their inputs.

    O(E + n log n) for E input edges: one pass indexes producers, last reads of each parameter and first reads
    of each new value; each update gets a sort key placing it right after the latest node it must follow
    (later-placed updates at the same spot go first); one sort gives the schedule."""
    targets = set(updates.values())
    root: dict[int, int] = {}
    for n in nodes:
        if n.op in view_ops:
            r = n.inputs[0].id
            root[n.outputs[0].id] = root.get(r, r)
    movers = [n for n in nodes if len(n.outputs) == 1 and n.outputs[0].id in updates]
    for u in movers:
        own = updates[u.outputs[0].id]
        if any((r := root.get(v.id, v.id)) in targets and r != own for v in u.inputs):
            return list(nodes)
    mover_ids = {id(u) for u in movers}
    # Scalars only updates read (gn.optim's non-finite-loss guard, built after the whole backward) move too, to
    # right after their inputs: otherwise every update, and the weight-gradient GEMM fused into one, waits for the
    # guard's place at the end of the step, when its operands have left the cache (GPT block: +0.8 ms a step).
    only_updates: dict[int, bool] = {}  # value id -> every reader is an update
    for n in nodes:
        for v in n.inputs:
            only_updates[v.id] = only_updates.get(v.id, True) and id(n) in mover_ids
    helpers = {id(n) for n in nodes if id(n) not in mover_ids and n.outputs
               and all(o.ndim == 0 and only_updates.get(o.id, False) for o in n.outputs)
               and not any(root.get(v.id, v.id) in targets for v in n.inputs)
               and not (barrier is not None and barrier(n))}
    if helpers:
        mover_ids |= helpers
        movers = [n for n in nodes if id(n) in mover_ids]
    key: dict[int, tuple[int, ...]] = {}  # id(node) -> position key; tuples order like the list they stand for
    made_by: dict[int, int] = {}  # value id -> id(producing node)
    last_read: dict[int, tuple[int, ...]] = {}  # parameter id -> key of the last non-update node reading it
    first_read: dict[int, tuple[int, ...]] = {}  # value id -> key of the first non-update node reading it
    last_check: tuple[int, ...] = (-1,)
    for i, n in enumerate(nodes):
        for o in n.outputs:
            made_by[o.id] = id(n)
        if id(n) in mover_ids:
            continue
        k = key[id(n)] = (i,)
        if barrier is not None and barrier(n):
            last_check = k
        for v in n.inputs:
            r = root.get(v.id, v.id)
            if r in targets:
                last_read[r] = k
            first_read.setdefault(v.id, k)
    end = (len(nodes),)
    for seq, u in enumerate(movers):
        own = updates.get(u.outputs[0].id)
        at = max([last_check, last_read.get(own, (-1,)) if own is not None else (-1,),
                  *(key[made_by[v.id]] for v in u.inputs if made_by.get(v.id) in key)])
        if at >= first_read.get(u.outputs[0].id, end):  # something reads both old and new value: keep the order
            return list(nodes)
        key[id(u)] = (*at, -seq)
    return sorted(nodes, key=lambda n: key[id(n)])
