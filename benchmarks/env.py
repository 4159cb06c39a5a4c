"""The environment every benchmark script sets up before NumPy, torch or JAX load (import this first; it imports
only os and sys): OpenBLAS's machine pins cleared by re-executing the script, one thread count for every library,
and with one thread the whole process held to one CPU, so that one thread means one core for every library."""

from __future__ import annotations

import os
import sys

PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def prepare(module: str) -> None:
    """Run `python -m module` as a user's NumPy would (re-executed without the pins) with `--threads N` applied
    (0: each library's default thread count)."""
    if any(k in os.environ for k in PINS):  # before NumPy loads anywhere in this process
        env = {k: v for k, v in os.environ.items() if k not in PINS}
        os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], env)
    if "--threads" in sys.argv:
        n = sys.argv[sys.argv.index("--threads") + 1]
        if n != "0":  # 0: the libraries' own defaults
            for k in ("BENCH_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ[k] = n
        if n == "1":
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                       " intra_op_parallelism_threads=1").strip()
            # Those flags do not keep JAX's CPU client off the second core (a 1024x784 @ 784x512 jit GEMM
            # measured 1.8 CPU-seconds per wall second, 190 GFLOP/s against one core's 105): one CPU for the
            # whole process.
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle pools must not spin on the shared cores
