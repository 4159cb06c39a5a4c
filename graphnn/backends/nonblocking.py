"""The executor's hooks for non-blocking collectives (data_parallel's gradient all-reduces, tagged "overlap"):
a schedule that lets the rest of the backward run while they are in flight, and the fast-path lines that start,
poll and wait for them. A kernel opts in with `nonblocking = True` and `start(*xs)`, `poll()`, `wait()` methods
(graphnn/backends/numpy/collective.py); called plainly it must still be the blocking collective, which the slow,
observable path (fn.profile, check_numerics) runs.

Imports graphnn.ir and the code emitter only; used by backends/executor.py.
"""

from __future__ import annotations

from ..ir.graph import Node
from .codegen import Emitter


def defer_overlapped(nodes: list[Node]) -> list[Node]:
    """Nodes tagged "overlap" (data_parallel's gradient all-reduces, non-blocking here) let the nodes that do not
    depend on them run while they are in flight: everything downstream of one (the updates) moves after the
    rest, order kept. A stable partition of a topological order stays topological. O(n + E)."""
    if not any("overlap" in n.tags for n in nodes):
        return nodes
    late: set[int] = set()
    for n in nodes:
        if "overlap" in n.tags or any(v.id in late for v in n.inputs):
            late.update(o.id for o in n.outputs)
    after = [n for n in nodes if "overlap" not in n.tags and any(v.id in late for v in n.inputs)]
    moved = {id(n) for n in after}
    return [n for n in nodes if id(n) not in moved] + after


def overlap_lines(em: Emitter, n: Node, lines: list[str], in_flight: list) -> list[str] | None:
    """The fast-path lines of a step scheduled while non-blocking collectives are in flight: wait right before
    the first kernel that reads one of a collective's outputs, else poll after each kernel so MPI moves the data
    meanwhile (MPICH progresses only inside MPI calls). The slow, observable path runs the collective blocking,
    so fn.profile times it as a node and check_numerics sees finished values. None: the lines as they are."""
    read = {v.id for v in n.inputs}
    waits = [em.call(fn.wait, (), {}) for fn, outs in in_flight if outs & read]
    in_flight[:] = [(fn, outs) for fn, outs in in_flight if not outs & read]
    polls = [em.call(fn.poll, (), {}) for fn, _ in in_flight] if lines else []
    return waits + lines + polls if waits or polls else None
