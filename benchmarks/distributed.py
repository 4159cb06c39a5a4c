"""`python -m benchmarks.distributed`: data-parallel throughput of a compute-bound MLP (256-512-512-10, global batch
1024, float32) on 1 and 2 ranks, one BLAS thread per rank, and the all-reduce's share of the step; plus the
constants of docs/distributed.md's step-time model (compute per step vs batch, all-reduce latency and bandwidth).

Launches its own `mpiexec -n P` (the one installed next to this Python by the `distributed` extra) per rank count;
each rank limits BLAS to one thread (environment and threadpoolctl, here only). Options: --steps N, --ranks 1,2,
--json PATH.
"""

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


def _worker(steps: int) -> None:
    """One rank: time `steps` data-parallel SGD steps; rank 0 prints a JSON line."""
    import numpy as np
    from threadpoolctl import threadpool_limits  # the bench extra / distributed extra

    threadpool_limits(1)
    import graphnn as gn
    from graphnn.distributed import comm

    p, r = gn.dist.size(), gn.dist.rank()
    rng = np.random.default_rng(0)
    x_all = rng.normal(size=(GLOBAL_BATCH, LAYERS[0])).astype("float32")
    y_all = rng.integers(0, LAYERS[-1], GLOBAL_BATCH)

    def build(data_parallel: bool) -> tuple:
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

    def timed(fn: object, feeds: dict, n: int) -> float:
        for _ in range(3):
            fn(**feeds)
        comm.barrier()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn(**feeds)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    feeds = {"x": gn.dist.shard(x_all), "y": gn.dist.shard(y_all)}
    g, fn = build(True)
    step = timed(fn, feeds, steps)
    n_grad = sum(int(np.prod(v.shape)) for v in g.params)
    # The all-reduce alone, on a buffer the size of the gradient bucket (plus the loss), in lockstep.
    buf = np.ones(n_grad + 1, dtype=np.float32)
    ar = []
    for _ in range(steps):
        comm.barrier()
        t0 = time.perf_counter()
        comm.allreduce_array(buf, "sum", 1.0 / p)
        ar.append(time.perf_counter() - t0)
    tiny = np.ones(1, dtype=np.float32)
    lat = []
    for _ in range(50):
        comm.barrier()
        t0 = time.perf_counter()
        comm.allreduce_array(tiny, "sum")
        lat.append(time.perf_counter() - t0)
    # The same step without data parallelism on this rank's local batch: the compute the ranks split.
    _, local = build(False)
    compute = timed(local, feeds, steps)
    small = timed(local, {k: a[:64] for k, a in feeds.items()}, steps) if p == 1 else None
    if r == 0:
        print(json.dumps({"ranks": p, "local_batch": GLOBAL_BATCH // p, "step_s": step,
                          "samples_per_s": GLOBAL_BATCH / step, "compute_s": compute, "compute_b64_s": small,
                          "allreduce_s": statistics.median(ar), "allreduce_bytes": buf.nbytes,
                          "allreduce_latency_s": statistics.median(lat), "allreduce_share": statistics.median(ar) / step,
                          "grad_floats": n_grad}))


def _mpiexec() -> str:
    beside = pathlib.Path(sys.executable).with_name("mpiexec")
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if not found:
        sys.exit("no mpiexec: pip install -e '.[distributed]'")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.steps)
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    rows = []
    for p in [int(s) for s in args.ranks.split(",")]:
        cmd = [_mpiexec(), "-n", str(p), sys.executable, "-m", "benchmarks.distributed", "--worker",
               "--steps", str(args.steps)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False,
                             cwd=pathlib.Path(__file__).resolve().parents[1])
        if out.returncode:
            sys.exit(out.stderr)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]["samples_per_s"]
    print(f"MLP {'-'.join(map(str, LAYERS))}, float32, global batch {GLOBAL_BATCH}, one BLAS thread per rank")
    print(f"{'ranks':>5} {'step ms':>8} {'samples/s':>10} {'speedup':>8} {'compute ms':>11} {'all-reduce ms':>14} "
          f"{'share':>6}")
    for row in rows:
        print(f"{row['ranks']:>5} {row['step_s'] * 1e3:8.2f} {row['samples_per_s']:10.0f} "
              f"{row['samples_per_s'] / base:8.2f} {row['compute_s'] * 1e3:11.2f} {row['allreduce_s'] * 1e3:14.3f} "
              f"{row['allreduce_share']:6.1%}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
