"""Two-rank tests: each launches its own `mpiexec -n 2` (the one the `distributed` extra installed next to this
Python) on tests/distributed/scenarios.py with a timeout, and compares with a one-process run made here."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
SCRIPT = str(HERE / "scenarios.py")


def _mpiexec() -> str | None:
    beside = pathlib.Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec")


try:
    import mpi4py  # noqa: F401
    HAVE_MPI4PY = True
except ImportError:
    HAVE_MPI4PY = False

pytestmark = [
    pytest.mark.mpi,
    pytest.mark.skipif(not HAVE_MPI4PY, reason="mpi4py not installed: pip install -e '.[distributed]'"),
    pytest.mark.skipif(_mpiexec() is None, reason="no mpiexec: pip install -e '.[distributed]' brings one"),
]


def run(ranks: int | None, *args: str, timeout: float = 60, env_extra: dict | None = None
        ) -> subprocess.CompletedProcess:
    """`scenarios.py args` under `mpiexec -n ranks` (None: a plain process, no MPI at all)."""
    cmd = [sys.executable, SCRIPT, *args]
    if ranks is not None:
        cmd = [_mpiexec(), "-n", str(ranks), *cmd]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env["OPENBLAS_NUM_THREADS"] = env.get("OPENBLAS_NUM_THREADS", "1")
    env.update(env_extra or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE, check=False)


def _close(a: dict, b: dict, rtol: float) -> None:
    assert sorted(a) == sorted(b)
    for k, ref in a.items():
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        np.testing.assert_allclose(b[k], ref, rtol=rtol, atol=rtol * scale, err_msg=k)


def test_two_ranks_end_with_the_one_process_parameters_and_optimizer_state(tmp_path: pathlib.Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    r = run(1, "same", str(one))
    assert r.returncode == 0, r.stderr
    r = run(2, "same", str(two))
    assert r.returncode == 0, r.stderr
    for dtype, rtol in (("float64", 1e-10), ("float32", 1e-5)):
        for opt in ("momentum", "adam"):
            a, b = np.load(one / f"{dtype}_{opt}.npz"), np.load(two / f"{dtype}_{opt}.npz")
            assert any(k.startswith(("momentum", "sgd", "adam")) for k in a), sorted(a)  # optimizer slots compared too
            _close(dict(a), dict(b), rtol)
    # Several small buckets (the first one reduced while the backward still runs) give the same parameters too.
    _close(dict(np.load(one / "float64_buckets.npz")), dict(np.load(two / "float64_buckets.npz")), 1e-10)
    # The all-reduce is a node: listed by the pass report and timed by the profile.
    report = (two / "report.txt").read_text()
    assert "data_parallel" in report and "all_reduce" in report
    assert "data_parallel/all_reduce_float32" in report.split("pipeline")[-1]


def test_overlapped_all_reduces_give_the_blocking_result_and_the_one_process_result(tmp_path: pathlib.Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    assert run(None, "overlap", str(one)).returncode == 0
    r = run(2, "overlap", str(two))
    assert r.returncode == 0, r.stderr
    ov, bl, ref = (dict(np.load(two / "overlap.npz")), dict(np.load(two / "blocking.npz")),
                   dict(np.load(one / "overlap.npz")))
    # Two ranks: the non-blocking path really ran (buckets started, kernels polled while they were in flight)...
    assert int(ov.pop("started")) >= 2 and int(ov.pop("polled")) >= 1
    assert int(bl.pop("started")) == 0 and int(bl.pop("polled")) == 0
    for d in (ov, bl, ref, dict(np.load(one / "blocking.npz"))):
        d.pop("started", None), d.pop("polled", None), d.pop("shared")
    # ... and gave the blocking path's parameters, Adam's moments and losses, and the one-process ones.
    _close(bl, ov, 1e-12)
    _close(ref, ov, 1e-10)


def test_the_shared_memory_all_reduce_gives_mpi_s_result(tmp_path: pathlib.Path) -> None:
    """Ranks on one machine reduce their buckets through a shared-memory window; MPI_Iallreduce (the path across
    machines, forced here by GRAPHNN_SHM_ALLREDUCE=0) gives the same parameters, moments and losses: with two
    ranks both add the same two numbers."""
    shm_dir, mpi_dir = tmp_path / "shm", tmp_path / "mpi"
    shm_dir.mkdir(), mpi_dir.mkdir()
    r = run(2, "overlap", str(shm_dir))
    assert r.returncode == 0, r.stderr
    r = run(2, "overlap", str(mpi_dir), env_extra={"GRAPHNN_SHM_ALLREDUCE": "0"})
    assert r.returncode == 0, r.stderr
    a, b = dict(np.load(shm_dir / "overlap.npz")), dict(np.load(mpi_dir / "overlap.npz"))
    # One window per bucket (each started non-blocking); none when switched off.
    assert int(a.pop("shared")) == int(a["started"]) >= 2 and int(b.pop("shared")) == 0
    _close(b, a, 0.0)


def test_a_nan_in_one_rank_s_shard_skips_the_step_on_every_rank(tmp_path: pathlib.Path) -> None:
    r = run(2, "nan_shard", str(tmp_path))
    assert r.returncode == 0, r.stderr
    d = dict(np.load(tmp_path / "nan_shard.npz"))
    losses = d.pop("losses")
    assert np.isnan(losses[2]) and np.isfinite(np.delete(losses, 2)).all()  # every rank reports the global loss
    names = sorted(k[3:] for k in d if k.startswith("r0/"))
    assert names and sorted(k[3:] for k in d if k.startswith("r1/")) == names
    for k in names:
        assert np.isfinite(d[f"r0/{k}"]).all(), k
        np.testing.assert_array_equal(d[f"r0/{k}"], d[f"r1/{k}"], err_msg=k)  # no rank diverged


def test_dropout_streams_differ_per_rank_and_repeat(tmp_path: pathlib.Path) -> None:
    masks = []
    for k in range(2):
        (tmp_path / str(k)).mkdir()
        r = run(2, "dropout", str(tmp_path / str(k)))
        assert r.returncode == 0, r.stderr
        d = np.load(tmp_path / str(k) / "dropout.npz")
        masks.append((d["rank0"] == 0, d["rank1"] == 0))
    assert not np.array_equal(*masks[0])  # each rank drops different units
    assert np.array_equal(masks[0][0], masks[1][0]) and np.array_equal(masks[0][1], masks[1][1])  # reproducible
    assert 0.2 < masks[0][0].mean() < 0.8 and 0.2 < masks[0][1].mean() < 0.8  # p = 0.5 on each rank


def test_fit_distributed_matches_one_process_and_resumes_under_other_rank_counts(tmp_path: pathlib.Path) -> None:
    ref, two, resumed = tmp_path / "ref", tmp_path / "two", tmp_path / "resumed"
    for d in (ref, two, resumed):
        d.mkdir()
    assert run(None, "fit", str(ref), "4").returncode == 0
    r = run(2, "fit", str(two), "4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("epoch 4/4") == 1  # rank 0 prints; rank 1 is quiet
    assert run(None, "fit", str(resumed), "2").returncode == 0  # 2 epochs on one process, then 2 more on two ranks
    r = run(2, "fit", str(resumed), "4", str(resumed / "ckpt.npz"))
    assert r.returncode == 0, r.stderr
    a = dict(np.load(ref / "fit_4.npz"))
    _close(a, dict(np.load(two / "fit_4.npz")), 1e-10)
    _close(a, dict(np.load(resumed / "fit_4.npz")), 1e-10)
    h_ref = json.loads((ref / "fit_4.json").read_text())
    for other in (two, resumed):
        h = json.loads((other / "fit_4.json").read_text())
        assert [e["epoch"] for e in h] == [1, 2, 3, 4]
        for e, f in zip(h_ref, h):
            assert abs(e["loss"] - f["loss"]) < 1e-12 and abs(e["val_loss"] - f["val_loss"]) < 1e-12
    assert sorted(p.name for p in two.iterdir() if p.name.startswith(".tmp")) == []  # atomic: no partial files


@pytest.mark.parametrize("scenario, message", [
    ("fault", "bad data in shard 1 at step 3"),  # rank 0 waits in a step's all-reduce
    ("early_fault", "rank 1 failed before touching MPI"),  # rank 0 waits in MPI_Init / gn.compile
    ("fault_in_flight", "rank 1 failed with an all-reduce in flight"),  # a non-blocking all-reduce never finished
    ("fault_in_flight retry", "a data-parallel step that raised cannot be retried"),  # caught, then called again
])
def test_a_rank_that_raises_stops_every_rank_quickly(tmp_path: pathlib.Path, scenario: str, message: str) -> None:
    name, *extra = scenario.split()
    t0 = time.monotonic()
    r = run(2, name, str(tmp_path), *extra, timeout=30)
    assert time.monotonic() - t0 < 10
    assert r.returncode != 0
    assert "rank 1 of 2 failed" in r.stderr and message in r.stderr


@pytest.mark.parametrize("scenario, message", [
    ("sum_loss", "is a sum over the batch, not a mean"),
    ("uneven", "uneven shards"),
    ("different_graphs", "the ranks built different graphs"),
    ("uneven_late", "uneven shards"),  # found by the agreement tail inside the bucket, no separate collective
    ("different_functions_late", "the ranks run different graphs at this step"),
])
def test_bad_input_is_a_graphnn_error_on_every_rank(tmp_path: pathlib.Path, scenario: str, message: str) -> None:
    t0 = time.monotonic()
    r = run(2, scenario, str(tmp_path), timeout=30)
    assert time.monotonic() - t0 < 10
    assert r.returncode != 0
    for rank in (0, 1):
        block = r.stderr.split(f"rank {rank} of 2 failed:")
        assert len(block) == 2, r.stderr
        assert message in block[1].split("graphnn.dist:")[0], r.stderr
    assert "graphnn." in r.stderr and ("GraphError" in r.stderr or "ShapeError" in r.stderr)


def test_digits_example_trains_to_the_one_process_accuracy_on_two_ranks(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("sklearn")
    example = str(HERE.parents[1] / "examples" / "digits_mlp.py")
    acc = {}
    for ranks, extra in ((None, []), (2, ["--distributed"])):
        cmd = [sys.executable, example, "--epochs", "5", "--out", str(tmp_path / str(ranks)), *extra]
        if ranks is not None:
            cmd = [_mpiexec(), "-n", str(ranks), *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
        assert r.returncode == 0, r.stderr[-2000:]
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("test accuracy")]
        assert len(lines) == 1, r.stdout  # rank 0 alone reports
        acc[ranks] = float(lines[0].split()[2].rstrip(","))
    # Same global batches and schedule; only the dropout masks differ (each rank draws its own stream).
    assert acc[None] > 0.93 and acc[2] > 0.93
    assert abs(acc[2] - acc[None]) <= 0.02, acc


def test_batch_norm_is_per_rank_by_default_and_sync_matches_one_process(tmp_path: pathlib.Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    assert run(None, "batchnorm", str(one)).returncode == 0
    r = run(2, "batchnorm", str(two))
    assert r.returncode == 0, r.stderr
    _close(dict(np.load(one / "bn_sync1.npz")), dict(np.load(two / "bn_sync1.npz")), 1e-10)
    a, b = np.load(one / "bn_sync0.npz"), np.load(two / "bn_sync0.npz")
    key = "sequential/batch_norm/running_mean"
    assert np.max(np.abs(a[key] - b[key])) > 1e-3 * np.max(np.abs(a[key]))  # each rank's own statistics
