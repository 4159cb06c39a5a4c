"""`python -m benchmarks.gpu`: graphnn backend="cupy" against PyTorch CUDA eager and torch.compile on the MLP
and CNN training steps of benchmarks/cases.py; feeds already on the device, every timed block synchronized.
Prints a markdown table (GPU model, date) for benchmarks/RESULTS.md. Options: --quick; --standin runs graphnn
on the NumPy-backed CuPy stand-in and torch on the CPU (a smoke test of this script, not a measurement).
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from collections.abc import Callable
from typing import Any

from .cases import CASES, Case
from .models import cnn_graph, mlp_graph
from .peers import torch_forward

GPU_CASES = [c for c in CASES if c.train] + [c for c in CASES if not c.train and c.batch == 1024]


def graphnn_cupy(case: Case, cp: Any) -> Callable[[], Any]:
    import graphnn as gn

    if case.kind == "mlp":
        g, outs, ups = mlp_graph(case.sizes, case.params, case.lr, case.train)
    else:
        g, outs, ups = cnn_graph(case.params, case.lr)
    fn = gn.compile(g, outs, ups or None, backend="cupy")
    x = cp.asarray(case.x)
    if case.y is None:
        return lambda: fn(x=x)
    y = cp.asarray(case.y)
    return lambda: fn(x=x, y=y)


def torch_runner(case: Case, device: str, compiled: bool) -> Callable[[], Any]:
    import torch
    import torch.nn.functional as F

    ps = [torch.tensor(p, device=device, requires_grad=case.train) for p in case.params]
    X = torch.from_numpy(case.x).to(device)
    Y = torch.from_numpy(case.y).to(device) if case.y is not None else None

    def forward(X: Any) -> Any:
        return torch_forward(case, ps, X)

    fwd = torch.compile(forward) if compiled else forward
    if not case.train:
        def infer() -> Any:
            with torch.no_grad():
                return torch.softmax(fwd(X), dim=1)

        return infer

    def step() -> Any:
        loss = F.cross_entropy(fwd(X), Y)
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p.sub_(p.grad, alpha=case.lr)
                p.grad = None
        return loss

    return step


def timed(f: Callable[[], Any], n: int, sync: Callable[[], None]) -> float:
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    sync()
    return (time.perf_counter() - t0) / n


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--standin", action="store_true", help="smoke-test on CPU: stand-in CuPy, torch on CPU")
    a = ap.parse_args(argv)
    if a.standin:
        from graphnn.backends.cupy import backend as cupy_backend
        from tests.backends.cupy.standin import cupy as cp

        cupy_backend.load_cupy = lambda: cp
        device, gpu = "cpu", "none (stand-in smoke test; not a measurement)"
    else:
        from graphnn.backends.cupy.backend import load_cupy

        cp = load_cupy()
        device = "cuda"
        gpu = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    sync_cp = cp.cuda.get_current_stream().synchronize
    try:
        import torch

        sync_t: Callable[[], None] = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    except ImportError:
        torch = None
    reps, block = (3, 0.05) if a.quick else (7, 0.3)
    rows = ["| case | graphnn cupy | torch eager | torch.compile |", "|---|---|---|---|"]
    for case in GPU_CASES[:2] if a.quick else GPU_CASES:
        runners: dict[str, tuple[Callable[[], Any], Callable[[], None]]] = {}
        cells: dict[str, str] = {}
        makers = [("graphnn", lambda c=case: graphnn_cupy(c, cp), sync_cp),
                  ("eager", lambda c=case: torch_runner(c, device, False), lambda: sync_t()),
                  ("compile", lambda c=case: torch_runner(c, device, True), lambda: sync_t())]
        for who, make, sync in makers:
            if who != "graphnn" and torch is None:
                cells[who] = "torch not installed"
                continue
            if who == "compile" and a.quick:
                cells[who] = "skipped (--quick)"
                continue
            try:
                f = make()
                f()
                f()  # compile/warm up
                runners[who] = (f, sync)
            except Exception as e:  # noqa: BLE001 - reported in the table
                cells[who] = f"failed: {type(e).__name__}"
        n = {w: max(1, int(block / max(timed(f, 1, s), 1e-7))) for w, (f, s) in runners.items()}
        times: dict[str, list[float]] = {w: [] for w in runners}
        for _ in range(reps):  # interleaved rounds
            for w, (f, s) in runners.items():
                times[w].append(timed(f, n[w], s))
        for w, ts in times.items():
            m = statistics.median(ts)
            cells[w] = f"{m * 1e6:.0f} µs" if m < 1e-3 else f"{m * 1e3:.2f} ms"
        rows.append(f"| {case.name} | {cells['graphnn']} | {cells['eager']} | {cells['compile']} |")
    head = f"GPU: {gpu}; {datetime.date.today().isoformat()}; medians of {reps} interleaved rounds, synchronized"
    table = "\n".join([head, "", *rows])
    print(table)
    return table


if __name__ == "__main__":
    main()
