"""The liveness planner on hand-made schedules: lifetimes that do not overlap share, live values never do."""

from __future__ import annotations

from graphnn.passes.memory_planning import StepUse, plan_memory


def _live_ranges(steps: list[StepUse], last: dict[int, int]) -> dict[int, tuple[int, int]]:
    first = {o: k for k, s in enumerate(steps) for o in s.writes}
    return {v: (first[v], last[v]) for v in first}


def test_chain_reuses_two_buffers_and_runs_in_place_when_allowed() -> None:
    # v1 = f(x); v2 = g(v1); v3 = h(v2); v4 = k(v3): each value dies where the next is made
    steps = [StepUse((0,), (1,)), StepUse((1,), (2,)), StepUse((2,), (3,)), StepUse((3,), (4,))]
    sizes = {1: 400, 2: 400, 3: 400, 4: 400}
    plan = plan_memory(steps, sizes, live_to_end={4})
    assert len(plan.buffer_bytes) == 2 and plan.peak_bytes == 800 and plan.naive_bytes == 1600
    inplace = [StepUse(s.reads, s.writes, {s.writes[0]: s.reads}) for s in steps]
    plan = plan_memory(inplace, sizes, live_to_end={4})
    assert len(plan.buffer_bytes) == 1 and plan.in_place == {2: 1, 3: 2, 4: 3}


def test_live_values_never_share_and_views_pin_their_base() -> None:
    # v1 is read at step 3 through view 10 (made at step 1), so v2 and v3 may not take its buffer
    steps = [StepUse((0,), (1,)), StepUse((1,), ()), StepUse((0,), (2,)), StepUse((10, 2), (3,)),
             StepUse((3,), (4,))]
    sizes = {1: 100, 2: 100, 3: 100, 4: 100}
    plan = plan_memory(steps, sizes, alias={10: 1}, live_to_end={4})
    b = plan.buffer_of
    assert b[1] != b[2] and b[1] != b[3] and b[2] != b[3]
    assert b[4] in (b[1], b[2])  # both died at step 3


def test_a_smaller_value_fits_a_freed_larger_buffer_and_a_larger_grows_one() -> None:
    steps = [StepUse((0,), (1,)), StepUse((1,), (2,)), StepUse((2,), (3,))]
    plan = plan_memory(steps, {1: 1000, 2: 10, 3: 2000}, live_to_end={3})
    assert plan.buffer_of[3] == plan.buffer_of[1] and max(plan.buffer_bytes) == 2000
    assert plan.peak_bytes == 2010
