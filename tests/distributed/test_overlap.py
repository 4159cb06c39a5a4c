"""The non-blocking all-reduce path in one process, without MPI: `comm` is replaced by a 2-rank stand-in whose
other rank holds the same data (so the mean over ranks is this rank's own value), and whose requests log when
they are started, polled and waited for. Checks the executor's schedule (start where the bucket is complete,
polls while it is in flight, wait before the first reader) against plain one-process training."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
import graphnn.passes.data_parallel as dp
from graphnn.distributed import comm


class FakeRequest:
    """An MPI request over a buffer the other (identical) rank also contributes to: finishing doubles it."""

    def __init__(self, buf: np.ndarray, log: list) -> None:
        self.buf, self.log, self.done = buf, log, False
        self.id = len([e for e in log if e[0] == "start"])
        log.append(("start", self.id))

    def Test(self) -> bool:  # mpi4py's name
        self.log.append(("poll", self.id))
        return self.done

    def Wait(self) -> None:  # mpi4py's name
        self.log.append(("wait", self.id))
        if not self.done:
            self.buf *= 2
            self.done = True


@pytest.fixture
def two_ranks(monkeypatch: pytest.MonkeyPatch) -> list:
    log: list = []

    def allreduce_array(buf: np.ndarray, op: str = "sum", scale: float | None = None) -> np.ndarray:
        if op == "sum":
            buf *= 2
        if scale is not None:
            buf *= scale
        return buf

    monkeypatch.setattr(comm, "size", lambda: 2)
    monkeypatch.setattr(comm, "rank", lambda: 0)
    monkeypatch.setattr(comm, "allreduce_array", allreduce_array)
    monkeypatch.setattr(comm, "iallreduce_array", lambda buf, op="sum": FakeRequest(buf, log))
    monkeypatch.setattr(comm, "broadcast_arrays", lambda arrays, root=0: None)
    monkeypatch.setattr(dp, "BUCKET_BYTES", 4 * 16 * 16)  # several buckets for this small MLP
    return log


def _train(data_parallel: bool, steps: int = 4) -> tuple[gn.Graph, list, object]:
    rng = np.random.default_rng(0)
    x_all = rng.normal(size=(32, 8)).astype("float32")
    y_all = rng.integers(0, 3, 32)
    with gn.Graph("mlp") as g:
        x = gn.input("x", (None, 8), "float32")
        y = gn.input("y", (None,), "int64")
        h = x
        for k, (a, b) in enumerate(((8, 16), (16, 16))):
            h = gn.relu(h @ gn.param(f"w{k}", (a, b), init=gn.init.he_normal(seed=k))
                        + gn.param(f"b{k}", (b,), init=gn.init.zeros()))
        loss = gn.cross_entropy(gn.softmax(h @ gn.param("w2", (16, 3), init=gn.init.he_normal(seed=2))), y)
    # skip_nonfinite=False: without the guard's select the executor would hoist each update right behind its
    # bucket (a wait right after the start) unless the non-blocking schedule defers them.
    opt = gn.optim.SGD(0.1, skip_nonfinite=False)
    fn = gn.compile(g, outputs={"loss": loss}, updates=opt.updates(loss, g.params),
                    data_parallel=data_parallel)
    outs = [fn(x=x_all[8 * (k % 4):8 * (k % 4) + 8], y=y_all[8 * (k % 4):8 * (k % 4) + 8]) for k in range(steps)]
    return g, outs, fn


def test_started_buckets_are_polled_and_waited_for_before_their_first_reader(two_ranks: list) -> None:
    g, outs, fn = _train(True)
    ref_g, ref_outs, _ = _train(False)
    # The other rank holds the same data: the averaged step is the one-process step.
    for k in ref_g.storage.keys():  # noqa: SIM118 - Storage is not a dict
        np.testing.assert_allclose(np.asarray(g.storage[k]), np.asarray(ref_g.storage[k]), rtol=1e-6, atol=1e-7)
    # Each returned loss is a copy, not a view of the bucket buffer the next step reuses.
    np.testing.assert_allclose([float(o["loss"]) for o in outs], [float(o["loss"]) for o in ref_outs], rtol=1e-6)
    buckets = [n for n in fn.graph.nodes if n.op == "all_reduce"]
    assert len(buckets) >= 2 and all("overlap" in n.tags for n in buckets)
    # Steps 1.. (step 0 builds the plan): per step, every bucket starts before the first wait, some kernel runs
    # (and polls) while the first is in flight, and every started bucket is waited for exactly once.
    per_step = len(two_ranks) // 4
    step = two_ranks[per_step:2 * per_step]
    kinds = [e[0] for e in step]
    starts = [i for i, e in enumerate(step) if e[0] == "start"]
    waits = [i for i, e in enumerate(step) if e[0] == "wait"]
    assert len(starts) == len(buckets) == len(waits)
    assert max(starts) < min(waits)
    assert "poll" in kinds[starts[0]:starts[1]]
    plan = next(iter(fn._plans.values()))
    order = [st.node for st in plan.steps]
    first_update = min(i for i, n in enumerate(order) if "update" in n.tags)
    assert max(i for i, n in enumerate(order) if n.op == "all_reduce") < first_update  # updates deferred


def test_the_observable_path_runs_the_all_reduce_blocking_and_times_it(two_ranks: list) -> None:
    _, _, fn = _train(True, steps=1)
    n_log = len(two_ranks)
    rng = np.random.default_rng(1)
    prof = fn.profile({"x": rng.normal(size=(8, 8)).astype("float32"), "y": rng.integers(0, 3, 8)}, repeat=2)
    assert len(two_ranks) == n_log  # no non-blocking request on this path
    timed = [r for r in prof.as_dicts() if r["op"] == "all_reduce"]
    assert timed and all(r["node"].startswith("data_parallel/all_reduce_float32") for r in timed)
    assert "all_reduce" in str(fn.report())


def test_blocking_when_overlap_is_off(two_ranks: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dp, "OVERLAP", False)
    _, _, fn = _train(True)
    assert two_ranks == []
    assert not any("overlap" in n.tags for n in fn.graph.nodes)
