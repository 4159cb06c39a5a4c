"""`python -m benchmarks.distributed`: data-parallel throughput of a compute-bound MLP (256-512-512-10, global batch
1024, float32) on 2 ranks against one rank, one BLAS thread per rank, and the all-reduce's share of the step; plus
the constants of docs/distributed.md's step-time model (compute per step vs batch, all-reduce time).

One `mpiexec -n 2` job (the mpiexec installed next to this Python by the `distributed` extra) measures everything,
interleaved step by step so that both sides of each ratio see the same machine: the one-rank step (rank 0 runs the
full global batch while rank 1 sleeps, not spinning), the data-parallel step in each variant (VARIANTS below), the
local half-batch step without any communication on both ranks at once (the compute the ranks split), and the
all-reduce of a gradient-sized buffer alone. Every function is compiled COPIES times (instances differ by where
their arrays fall in memory); a figure is the median over rounds of the mean over instances, a speedup the median
of per-round ratios. Each rank limits BLAS to one thread (environment and threadpoolctl, here only). Options:
--steps N, --bind (pin rank r to core r), --realtime (SCHED_FIFO: an idle machine on a shared one), --json PATH."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

LAYERS = (256, 512, 512, 10)
GLOBAL_BATCH = 1024
# name -> (overlap, bucket cap in bytes, calls checked by a separate collective, shared-memory all-reduce): the
# blocking MPI_Allreduce of one fresh 1.6 MB bucket with the agreement check as its own collective every step (the
# first version); the same bucket with the check carried in the bucket after 2 steps, started non-blocking into a
# reused buffer and waited for before the updates, through MPI_Iallreduce or through a shared-memory window
# (graphnn/distributed/shm.py, the default when all ranks share one machine); two buckets (the last layers'
# 1.07 MB, then the first layer's 0.53 MB), the first one in flight while the first layer's weight gradient is
# computed.
VARIANTS = {"first version": (False, 25 << 20, 1 << 62, False), "one bucket MPI": (True, 25 << 20, 2, False),
            "one bucket": (True, 25 << 20, 2, True), "overlap": (True, 1_200_000, 2, True)}
COPIES = 3


def _build(data_parallel: bool, overlap: bool = True, cap: int = 25 << 20, checked: int = 2,
           shared: bool = True) -> tuple:
    import graphnn as gn
    import graphnn.backends.numpy.collective as col
    import graphnn.passes.data_parallel as dp
    from graphnn.distributed import comm

    # Read when the pass runs and when the first call builds the plan and its bucket (made by the caller right
    # after); "buffers" is reset so that instances do not share one bucket buffer across variants.
    dp.OVERLAP, dp.BUCKET_BYTES, col.CHECKED_CALLS = overlap, cap, checked
    comm._state["shm"], comm._state["buffers"] = shared and comm.size() > 1, {}
    with gn.Graph("mlp") as g:
        x = gn.input("x", (None, LAYERS[0]), "float32")
        y = gn.input("y", (None,), "int64")
        h = x
        for k, (a, b) in enumerate(itertools.pairwise(LAYERS)):
            h = h @ gn.param(f"w{k}", (a, b), init=gn.init.he_normal(seed=k)) + gn.param(f"b{k}", (b,),
                                                                                       init=gn.init.zeros())
            if k < len(LAYERS) - 2:
                h = gn.relu(h)
        loss = gn.cross_entropy(gn.softmax(h), y)
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.01).updates(loss, g.params),
                    data_parallel=data_parallel)
    return g, fn


def _worker(steps: int) -> None:
    """Both ranks: interleaved rounds of every measurement; rank 0 prints one JSON line."""
    import numpy as np
    from threadpoolctl import threadpool_limits  # the bench extra / distributed extra

    threadpool_limits(1)
    import graphnn as gn
    from graphnn.distributed import comm

    p, r = gn.dist.size(), gn.dist.rank()
    rng = np.random.default_rng(0)
    x_all = rng.normal(size=(GLOBAL_BATCH, LAYERS[0])).astype("float32")
    y_all = rng.integers(0, LAYERS[-1], GLOBAL_BATCH)
    full = {"x": x_all, "y": y_all}
    shard = {"x": gn.dist.shard(x_all), "y": gn.dist.shard(y_all)}
    g, _ = _build(False)
    n_grad = sum(int(np.prod(v.shape)) for v in g.params)
    # COPIES separately compiled instances of every function (own parameters and buffers): two instances of the
    # same function differ by up to 0.4 ms per step here (where their arrays fall in memory), so each figure is
    # the median over instances as well as rounds.
    fns: dict[str, list] = {}
    for name, config in VARIANTS.items():
        fns[name] = [_build(True, *config)[1] for _ in range(COPIES)]
        for f in fns[name]:
            f(**shard)  # builds the plan with this variant's settings
    ones = [_build(False)[1] for _ in range(COPIES)]  # rank 0's one-rank step on the full global batch
    locals_ = [_build(False)[1] for _ in range(COPIES)]  # every rank's half batch, no communication
    _, small = _build(False)  # batch 64: the model's per-step constant
    buf = np.ones(n_grad + 1, dtype=np.float32)
    comm._state["shm"] = True
    shared = comm.reduce_buffer("benchmark", n_grad + 1, np.float32)  # a shared-memory window's slot

    def solo(one: object) -> None:  # rank 0 alone on the machine: the others sleep in a non-blocking barrier
        if r == 0:
            one(**full)
            comm.world().Ibarrier().Wait()
        else:
            req = comm.world().Ibarrier()
            while not req.Test():
                time.sleep(2e-4)

    def allreduce() -> None:
        comm.allreduce_array(buf, "sum", 1.0 / p)

    def allreduce_shm() -> None:  # the pack copy included: the MPI path's bucket pays it too
        np.multiply(buf, np.float32(1.0 / p), out=shared)
        comm.allreduce_array(shared, "sum")

    runs = [("one", lambda f=f: solo(f)) for f in ones]
    runs += [(k, lambda f=f: f(**shard)) for k, fs in fns.items() for f in fs]
    runs += [("compute", lambda f=f: f(**shard)) for f in locals_]
    runs += [("allreduce", allreduce), ("allreduce_shm", allreduce_shm), ("b64", lambda: small(**{k: a[:64] for k, a in full.items()}))]
    times: dict[str, list[float]] = {k: [] for k, _ in runs}  # per round: the mean over the instances
    for k in range(steps + 3):
        order = runs if k % 2 else runs[::-1]  # alternate the order: no function always goes first
        took: dict[str, list[float]] = {}
        for name, run in order:
            comm.barrier()
            t0 = time.perf_counter()
            run()
            took.setdefault(name, []).append(time.perf_counter() - t0)
        if k >= 3:
            for name, ts in took.items():
                times[name].append(statistics.fmean(ts))
    times = {k: [max(ts) for ts in zip(*comm.allgather(v))] for k, v in times.items()}  # the slower rank's time
    if r == 0:
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = {k: statistics.median([a / b for a, b in zip(times["one"], times[k])]) for k in VARIANTS}
        print(json.dumps({"ranks": p, "global_batch": GLOBAL_BATCH, "steps": steps, "step_s": med,
                          "speedup": ratio, "allreduce_bytes": buf.nbytes, "grad_floats": n_grad,
                          "allreduce_share": {k: med["allreduce_shm" if VARIANTS[k][3] else "allreduce"] / med[k]
                                              for k in VARIANTS},
                          "compute_b1024_s": med["one"], "compute_b64_s": med["b64"]}))


def _mpiexec() -> str:
    beside = pathlib.Path(sys.executable).with_name("mpiexec")
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if not found:
        sys.exit("no mpiexec: pip install -e '.[distributed]'")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--bind", action="store_true", help="pin rank r to core r (mpiexec -bind-to core)")
    ap.add_argument("--realtime", action="store_true",
                    help="run the ranks under SCHED_FIFO (chrt -f 10; Linux, root): on a shared machine this emulates "
                         "an idle one (the kernel still leaves other processes 5%% of the CPU)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.steps)
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    cmd = [*(["chrt", "-f", "10"] if args.realtime else []), _mpiexec(), *(["-bind-to", "core"] if args.bind else []),
           "-n", "2", sys.executable, "-m", "benchmarks.distributed", "--worker", "--steps", str(args.steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False,
                         cwd=pathlib.Path(__file__).resolve().parents[1])
    if out.returncode:
        sys.exit(out.stderr)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    med = row["step_s"]
    print(f"MLP {'-'.join(map(str, LAYERS))}, float32, global batch {GLOBAL_BATCH}, one BLAS thread per rank, "
          f"{row['steps']} interleaved rounds of {COPIES} instances each{', ranks pinned' if args.bind else ''}"
          f"{', SCHED_FIFO' if args.realtime else ''}")
    print(f"one rank (batch {GLOBAL_BATCH}): {med['one'] * 1e3:.2f} ms; half batch on both ranks, no communication: "
          f"{med['compute'] * 1e3:.2f} ms; all-reduce of {row['allreduce_bytes'] / 1e6:.2f} MB alone: "
          f"MPI_Allreduce {med['allreduce'] * 1e3:.3f} ms, shared memory {med['allreduce_shm'] * 1e3:.3f} ms "
          "(with its pack copy)")
    print(f"{'2 ranks':>14} {'step ms':>8} {'samples/s':>10} {'speedup':>8} {'overhead ms':>12} "
          f"{'all-reduce share':>17}")
    for k in VARIANTS:
        print(f"{k:>14} {med[k] * 1e3:8.2f} {GLOBAL_BATCH / med[k]:10.0f} {row['speedup'][k]:8.2f} "
              f"{(med[k] - med['compute']) * 1e3:12.2f} {row['allreduce_share'][k]:17.1%}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
