"""`python -m benchmarks.distributed_model [--json results.json]`: docs/distributed.md's step-time model, a MODEL
(not a measurement) of data-parallel training of the benchmark MLP on 2..1,024 ranks over 10 and 100 Gbit/s.

    step(P) = c0 + c1 * B / P  +  allreduce(P)          (no overlap; B = global batch, fixed: strong scaling)
    weak scaling (B rows per rank, global batch P * B): efficiency = step(1) / (step(1) + allreduce(P))
    allreduce(P) = 2 (P - 1) * alpha + 2 (P - 1) / P * n / beta     (ring all-reduce of n bytes)

c0, c1 (compute per step and per sample, one BLAS thread) and n (gradient bytes) come from benchmarks/distributed.py
measured here; alpha (per-message latency) and beta (link bandwidth) are the network's parameters.
"""

from __future__ import annotations

import argparse
import json
import pathlib

# Measured on this 2-core machine by benchmarks/distributed.py --realtime (an idle machine; docs/distributed.md):
# medians of three runs of 40 rounds.
MEASURED = {"compute_b1024_s": 0.02416, "compute_b64_s": 0.00198, "grad_bytes": 1597484, "global_batch": 1024}
NETWORKS = {"10 Gbit/s, alpha 30 us (TCP)": (30e-6, 10e9 / 8), "100 Gbit/s, alpha 5 us (RDMA)": (5e-6, 100e9 / 8)}
RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def constants(m: dict) -> tuple[float, float]:
    """c0 (fixed seconds per step) and c1 (seconds per sample) from the two measured batch sizes."""
    c1 = (m["compute_b1024_s"] - m["compute_b64_s"]) / (1024 - 64)
    return m["compute_b64_s"] - 64 * c1, c1


def allreduce(p: int, n: float, alpha: float, beta: float) -> float:
    """Ring all-reduce: reduce-scatter then all-gather, 2 (P-1) messages of n/P bytes each."""
    return 0.0 if p == 1 else 2 * (p - 1) * alpha + 2 * (p - 1) / p * n / beta


def table(m: dict) -> str:
    c0, c1 = constants(m)
    b, n = m["global_batch"], m["grad_bytes"]
    rows = [(f"c0 = {c0 * 1e3:.2f} ms per step, c1 = {c1 * 1e6:.1f} us per sample, n = {n / 1e6:.2f} MB of "
             f"gradients, global batch {b}"), ""]
    for name, (alpha, beta) in NETWORKS.items():
        rows += [f"**{name}** (model)", "", "| ranks | compute ms | all-reduce ms | step ms | speedup | efficiency | weak-scaling efficiency |",
                 "|---:|---:|---:|---:|---:|---:|---:|"]
        t1 = c0 + c1 * b
        for p in RANKS:
            comp, ar = c0 + c1 * b / p, allreduce(p, n, alpha, beta)
            step = comp + ar
            rows.append(f"| {p} | {comp * 1e3:.2f} | {ar * 1e3:.2f} | {step * 1e3:.2f} | {t1 / step:.1f} | "
                        f"{t1 / step / p:.1%} | {t1 / (t1 + ar):.0%} |")
        rows.append("")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="benchmarks/distributed.py --json output to take c0, c1, n from")
    args = ap.parse_args()
    m = dict(MEASURED)
    if args.json:
        row = json.loads(pathlib.Path(args.json).read_text())
        m.update(compute_b1024_s=row["compute_b1024_s"], compute_b64_s=row["compute_b64_s"],
                 grad_bytes=4 * row["grad_floats"])
    print(table(m))


if __name__ == "__main__":
    main()
