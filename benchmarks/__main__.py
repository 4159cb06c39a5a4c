"""`python -m benchmarks`: graphnn against every installed peer, interleaved, medians; prints the report (and writes
it to --out PATH when given: RESULTS.md is curated by hand from such runs, never overwritten by default).

Clears OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (re-executing itself before NumPy loads) so NumPy runs as it does
on a user's machine, and reports the BLAS kernel threadpoolctl sees. Ends with the eager-vs-compiled row
(benchmarks/eager.py). Options: --quick, --out PATH, --threads N, --cases, --eager-steps N, --spin.
"""

from __future__ import annotations

import os
import sys

from benchmarks.env import prepare  # before NumPy is imported anywhere in this process

if "--spin" not in sys.argv:
    # Interleaved runners share the cores: a library's idle workers that busy-wait after each call (torch's
    # OpenMP, onnxruntime's pool) would steal them from the next runner (one comparison, 2 threads: the batch-128
    # step of graphnn and NumPy took 31 ms and 23 ms with spinning pools beside them, 3.1 and 3.0 ms without).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["BENCH_NO_SPIN"] = "1"
prepare("benchmarks")

import argparse
import datetime
import importlib.util
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cases import CASES, Case, graphnn_runner
from .peers import PEERS, REQUIRES


@dataclass
class Result:
    """Per-call seconds of every runner on one case, plus graphnn's plan and profile facts."""

    case: Case
    times: dict[str, list[float]] = field(default_factory=dict)
    first: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    memory: tuple[int, int, int] | None = None
    calls: int = 0
    top: list[tuple[str, float]] = field(default_factory=list)

    def median(self, who: str) -> float:
        return statistics.median(self.times[who])

    def best(self, who: str) -> float:
        return min(self.times[who])


def gemm_peak(n: int = 1024, reps: int = 5) -> float:
    """NumPy's own float32 GEMM rate in GFLOP/s (the best of a few n^3 products)."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    c = np.empty_like(a)
    np.matmul(a, a, out=c)
    best = min(_timed(lambda: np.matmul(a, a, out=c), 1) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _timed(f: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n


def run_case(case: Case, peers: list[str], reps: int, block: float) -> Result:
    res = Result(case)
    runners: dict[str, Any] = {}
    try:
        step, first, fn, feeds = graphnn_runner(case)
        runners["graphnn"] = step
        res.first["graphnn"] = first
        plan = fn.plan_summary(**feeds)
        if plan.memory is not None:
            res.memory = (plan.memory.peak_bytes, plan.scratch_bytes, plan.memory.naive_bytes)
        res.calls = plan.n_calls
        res.top = [(f"{r.op if not r.members else 'fused(' + '+'.join(r.members) + ')'} {r.name}", share)
                   for r, share in fn.profile(feeds, repeat=3).top(5)]
    except Exception as e:  # noqa: BLE001 - reported, the other runners still run
        res.skipped["graphnn"] = f"{type(e).__name__}: {e}"
    for who in peers:
        try:
            step, first = PEERS[who](case)
        except NotImplementedError as e:
            res.skipped[who] = str(e)
            continue
        except Exception as e:  # noqa: BLE001
            res.skipped[who] = f"{type(e).__name__}: {e}"
            continue
        runners[who] = step
        res.first[who] = first
    n = {who: max(1, int(block / max(_timed(f, 1), 1e-7))) for who, f in runners.items()}
    res.times = {who: [] for who in runners}
    for _ in range(reps):  # interleaved: every runner once per round, so load drifts hit all alike
        for who, f in runners.items():
            res.times[who].append(_timed(f, n[who]))
    return res


def fmt_t(s: float) -> str:
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')} "
                         f"threads={i.get('num_threads')}" for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:
        return "threadpoolctl not installed"


def versions(peers: list[str]) -> str:
    import graphnn

    vs = [f"python {platform.python_version()}", f"numpy {np.__version__}", f"graphnn {graphnn.__version__}"]
    for who in peers:
        if who != "numpy":
            mod = __import__(REQUIRES[who])
            vs.append(f"{who} {getattr(mod, '__version__', '?')}")
    return ", ".join(vs)


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def import_seconds() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import graphnn"], check=True)
    return time.perf_counter() - t0


def report(results: list[Result], peak: float, peers: list[str], cold: float, load: tuple,
           eager: list[dict] | None = None) -> str:
    out = ["# graphnn benchmarks\n",
           f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
           f"- machine: {machine()}",
           f"- versions: {versions(peers)}",
           f"- BLAS (threadpoolctl): {blas_info()}; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset",
           f"- NumPy float32 GEMM peak measured in this run: {peak:.0f} GFLOP/s",
           (f"- `python -c 'import graphnn'` cold: {cold:.2f} s (not part of build -> first result); one-time "
            "kernel cache fill: numba's on-disk cache of the optional `fast` extra's kernels (GELU, layer norm, "
            "Winograd convolutions: ARCHITECTURE.md); none of them is in these cases"),
           (f"- load average (1 min) at start / end: {load[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
            "cores (a shared machine: compare the interleaved ratios, not absolute times)"),
           f"- threads: {os.environ.get('BENCH_THREADS', 'library defaults')}",
           ("- idle workers: " + ("the libraries' defaults (--spin)" if not os.environ.get("BENCH_NO_SPIN") else
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, onnxruntime allow_spinning=0 (so a library's "
            "spinning pool does not steal the cores from the runner after it; --spin keeps the defaults)")),
           "- medians of interleaved rounds; ratio = graphnn time / peer time (< 1: graphnn faster)\n"]
    who_all = ["graphnn"] + [p for p in peers]
    out.append("| case | " + " | ".join(who_all) + " | graphnn GFLOP/s (of peak) |")
    out.append("|---|" + "---|" * (len(who_all) + 1))
    for r in results:
        cells = []
        for who in who_all:
            if who in r.times:
                t = r.median(who)
                cell = fmt_t(t)
                if who != "graphnn" and "graphnn" in r.times:
                    cell += f" (x{r.median('graphnn') / t:.2f})"
                cells.append(cell)
            else:
                cells.append("—")
        gf = ""
        if "graphnn" in r.times and r.case.flops:
            rate = r.case.flops / r.median("graphnn") / 1e9
            gf = f"{rate:.0f} ({rate / peak:.0%})"
        out.append(f"| {r.case.name} | " + " | ".join(cells) + f" | {gf} |")
    out.append("\n## the same, best round of each (less sensitive to other jobs on a shared machine)\n")
    out.append("| case | " + " | ".join(who_all) + " |")
    out.append("|---|" + "---|" * len(who_all))
    for r in results:
        cells = []
        for who in who_all:
            if who not in r.times:
                cells.append("—")
                continue
            cell = fmt_t(r.best(who))
            if who != "graphnn" and "graphnn" in r.times:
                cell += f" (x{r.best('graphnn') / r.best(who):.2f})"
            cells.append(cell)
        out.append(f"| {r.case.name} | " + " | ".join(cells) + " |")
    out.append("\n## build -> first result (seconds)\n")
    out.append("| case | " + " | ".join(who_all) + " |")
    out.append("|---|" + "---|" * len(who_all))
    for r in results:
        out.append(f"| {r.case.name} | " + " | ".join(f"{r.first[w]:.3f}" if w in r.first else "—" for w in who_all) + " |")
    out.append("\n## graphnn plans: memory and kernel calls\n")
    out.append("| case | kernel calls / step | planned buffers | kernel scratch | naive sum of intermediates | ratio |")
    out.append("|---|---|---|---|---|---|")
    for r in results:
        if r.memory:
            peak_b, scratch, naive = r.memory
            out.append(f"| {r.case.name} | {r.calls} | {peak_b / 1e6:.2f} MB | {scratch / 1e6:.2f} MB | "
                       f"{naive / 1e6:.2f} MB | {(peak_b + scratch) / naive:.2f} |")
    out.append("\n## top five kernels per case (fn.profile, node-by-node path)\n")
    for r in results:
        if r.top:
            out.append(f"- **{r.case.name}**: " + "; ".join(f"{name} {share:.0%}" for name, share in r.top))
    if eager:
        out.append("\n## eager vs compiled graphnn, one SGD step (median ms; benchmarks/eager.py)\n")
        out.append("| model | batch | graphnn eager | graphnn compiled | torch eager | eager / compiled |")
        out.append("|---|---|---|---|---|---|")
        for e in eager:
            te = f"{e['torch_eager_ms']:.3f}" if e["torch_eager_ms"] is not None else "—"
            out.append(f"| {e['model']} | {e['batch']} | {e['graphnn_eager_ms']:.3f} | {e['graphnn_compiled_ms']:.3f} | "
                       f"{te} | x{e['graphnn_eager_ms'] / e['graphnn_compiled_ms']:.1f} |")
    skipped = [(r.case.name, w, why) for r in results for w, why in r.skipped.items()]
    if skipped:
        out.append("\n## not run\n")
        out += [f"- {c} / {w}: {why}" for c, w, why in skipped]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    ap.add_argument("--cases", default="", help="semicolon-separated substrings of case names (default: all)")
    ap.add_argument("--out", default=None, help="also write the report to this file")
    ap.add_argument("--threads", type=int, default=0, help="threads for every library (default: theirs)")
    ap.add_argument("--spin", action="store_true", help="leave the libraries' busy-waiting idle workers as they are")
    ap.add_argument("--eager-steps", type=int, default=None,
                    help="timed steps of the eager-vs-compiled row (default 15, 5 with --quick; 0 skips it)")
    args = ap.parse_args()
    reps, block = (3, 0.03) if args.quick else (11, 0.08)
    peers = [p for p in PEERS if importlib.util.find_spec(REQUIRES[p]) is not None]
    cases = [c for c in CASES if not args.cases or any(k.strip() in c.name for k in args.cases.split(";"))]
    load = os.getloadavg()
    peak = gemm_peak()
    print(f"NumPy GEMM peak {peak:.0f} GFLOP/s; BLAS: {blas_info()}; peers: {', '.join(peers)}", flush=True)
    results = []
    for case in cases:
        r = run_case(case, peers, reps, block)
        results.append(r)
        line = ", ".join(f"{w} {fmt_t(r.median(w))}" for w in r.times)
        print(f"{case.name}: {line}", flush=True)
    steps = args.eager_steps if args.eager_steps is not None else (5 if args.quick else 15)
    eager = None
    if steps > 0:  # few steps: graphnn eager is slow by design, and this row must not dominate the run
        from .eager import eager_rows, format_rows

        eager = eager_rows(steps=steps, warmup=2)
        print(format_rows(eager), flush=True)
    text = report(results, peak, peers, import_seconds(), load, eager)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
