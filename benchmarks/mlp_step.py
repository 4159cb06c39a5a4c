"""`python -m benchmarks.mlp_step [--batch 128] [--rounds 30] [--threads 1]`: the MLP 784-512-512-10 training step
(plain SGD, softmax cross-entropy; benchmarks/models.py) in graphnn against the same graph without the
gemm_update_fusion pass ("graphnn unfused": the weight gradients stored, then scaled and subtracted), the
hand-written NumPy step and JAX jit, interleaved; per-round ratios to graphnn (medians), then graphnn's profile
split into GEMM time (matmul and gemm_update nodes) and everything else.
"""

from __future__ import annotations

import sys

from benchmarks.env import prepare  # before NumPy loads

if "--threads" not in sys.argv:
    sys.argv += ["--threads", "1"]  # one core: the ratio the acceptance names
prepare("benchmarks.mlp_step")

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import graphnn as gn
from graphnn.passes.pipeline import TRAINING

from .cases import BIG, Case
from .models import mlp_graph
from .peers import PEERS, REQUIRES

GEMM_OPS = ("matmul", "gemm_update")


def graphnn_step(case: Case, passes: Any) -> tuple[Callable[[], Any], Any]:
    """(step, compiled function) of the case's training graph under `passes`."""
    g, outs, ups = mlp_graph(case.sizes, case.params, case.lr, True)
    fn = gn.compile(g, outs, ups, passes=passes)
    fn(x=case.x, y=case.y)
    return (lambda: fn(x=case.x, y=case.y)), fn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    case = Case(f"train MLP 784-512-512-10, batch {args.batch}", "mlp", True, args.batch, BIG)
    step, fn = graphnn_step(case, "default")
    runners: dict[str, Callable[[], Any]] = {"graphnn": step}
    runners["graphnn unfused"] = graphnn_step(case, [p for p in TRAINING if p != "gemm_update_fusion"])[0]
    for who in ("numpy", "jax"):
        try:
            __import__(REQUIRES[who])
            runners[who] = PEERS[who](case)[0]
        except ImportError:
            print(f"{who}: not installed, skipped")
    for f in runners.values():
        for _ in range(3):
            f()
    n = max(1, int(0.05 / max(1e-6, min(_timed(f, 1) for f in runners.values()))))
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(args.rounds):  # interleaved: load drifts hit every runner alike
        for k, f in runners.items():
            times[k].append(_timed(f, n))
    g = times["graphnn"]
    print(f"{case.name}, threads {args.threads}, {args.rounds} interleaved rounds of {n} steps")
    for k, ts in times.items():
        ratio = statistics.median(a / b for a, b in zip(g, ts))
        print(f"  {k:16s} median {statistics.median(ts) * 1e3:7.3f} ms   best {min(ts) * 1e3:7.3f} ms   "
              f"graphnn / this (per-round median) x{ratio:.3f}")
    prof = fn.profile({"x": case.x, "y": case.y}, repeat=20)
    gemm = sum(r.seconds for r in prof.rows.values() if r.op in GEMM_OPS) / prof.runs
    rest = sum(r.seconds for r in prof.rows.values() if r.op not in GEMM_OPS) / prof.runs
    print(f"  graphnn profile (node by node): GEMM {gemm * 1e3:.3f} ms, everything else {rest * 1e3:.3f} ms "
          f"({rest / (gemm + rest):.0%})")


def _timed(f: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n


if __name__ == "__main__":
    main()
