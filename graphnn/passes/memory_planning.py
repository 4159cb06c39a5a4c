"""Liveness-based memory planning: first/last use of every planned value -> shared byte buffers.

Values whose lifetimes do not overlap share a buffer; an output may take over the buffer of an input that
dies at the same step when the kernel allows it (elementwise ops run in place). Views (reshape, transpose)
keep their base alive. Pure bookkeeping on ids and sizes, so every backend uses it. Imports graphnn.ir only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass
class StepUse:
    """What one scheduled step reads and which of its outputs the planner must place."""

    reads: tuple[int, ...]  # value ids
    writes: tuple[int, ...]  # planned value ids (need a buffer)
    may_share: dict[int, tuple[int, ...]] = field(default_factory=dict)  # output id -> inputs it may overwrite


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
    """Last step index at which each root value (views resolved to their base) is read."""
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
    return last


def plan_memory(steps: Sequence[StepUse], sizes: dict[int, int], alias: dict[int, int] | None = None,
                live_to_end: set[int] | None = None) -> MemoryPlan:
    """Assign each planned value (a key of `sizes`) a buffer; greedy best fit over the schedule."""
    alias = alias or {}
    last = lifetimes(steps, alias, live_to_end or set())
    buffer_of: dict[int, int] = {}
    nbytes: list[int] = []
    free: list[int] = []
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
            fits = [b for b in free if nbytes[b] >= need]
            if fits:
                b = min(fits, key=lambda b: nbytes[b])
            elif free:
                b = max(free, key=lambda b: nbytes[b])  # grow the largest free buffer
                nbytes[b] = need
            else:
                b = len(nbytes)
                nbytes.append(need)
            if b in free:
                free.remove(b)
            buffer_of[o] = b
        # Inputs that died here are free for later steps (not for this one: its outputs are written while
        # its inputs are read, except where the kernel allows in-place, handled above). An output nobody
        # reads dies here too.
        released += [o for o in st.writes if last.get(o) == k and o not in released and o not in st.reads]
        free.extend(buffer_of[v] for v in released)
    return MemoryPlan(buffer_of, nbytes, in_place, sum(sizes.values()))


def hoist_updates(nodes: Sequence[Any], updates: dict[int, int], view_ops: frozenset[str],
                  barrier: Any = None) -> list[Any]:
    """A schedule where each node computing a parameter's new value runs as soon as its inputs exist and
    every read of the old value (through views too) is done, so gradients die early and buffers are reused.
    `updates`: new value id -> parameter value id. Falls back to `nodes` when an update reads another
    updated parameter (moving it could change which value it sees). Nodes for which `barrier(node)` holds
    (kernels that validate data, e.g. labels) stay before every update, so a bad feed changes no state."""
    targets = set(updates.values())
    root: dict[int, int] = {}
    for n in nodes:
        if n.op in view_ops:
            r = n.inputs[0].id
            root[n.outputs[0].id] = root.get(r, r)
    movers = [n for n in nodes if len(n.outputs) == 1 and n.outputs[0].id in updates]
    for u in movers:
        own = updates[u.outputs[0].id]
        if any(root.get(v.id, v.id) in targets - {own} for v in u.inputs):
            return list(nodes)
    mover_ids = {id(u) for u in movers}
    order = [n for n in nodes if id(n) not in mover_ids]
    checks = [n for n in order if barrier is not None and barrier(n)]
    for u in movers:
        p = updates[u.outputs[0].id]
        made = {v.id for v in u.inputs}
        at = max((k for k, n in enumerate(order) if n in checks), default=-1)
        for k, n in enumerate(order):
            if any(o.id in made for o in n.outputs) or any(root.get(v.id, v.id) == p for v in n.inputs):
                at = max(at, k)
        order.insert(at + 1, u)
    return order
