"""Benchmark row: per-step time of one SGD training step of the benchmark MLPs, graphnn eager (gn.eager,
tape gradients) vs graphnn compiled (gn.compile) vs PyTorch eager (when installed).

`eager_rows()` returns the rows; `python -m benchmarks.eager` prints them.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import graphnn as gn

MLPS = (((784, 512, 512, 10), 128), ((64, 32, 10), 32))


def _init(sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    ps = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        ps += [(rng.standard_normal((i, o)) * np.sqrt(2.0 / i)).astype(np.float32), np.zeros(o, np.float32)]
    return ps


def _logits(x: Any, ps: list[Any]) -> Any:
    h = x
    for k in range(0, len(ps), 2):
        h = h @ ps[k] + ps[k + 1]
        if k < len(ps) - 2:
            h = gn.relu(h)
    return h


def _time(step: Callable[[], Any], steps: int, warmup: int) -> float:
    """Median ms of `steps` individually timed steps (medians: a shared machine has outliers)."""
    for _ in range(warmup):
        step()
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def graphnn_eager_step(init: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> Callable[[], float]:
    """One eager training step: ops run at once, gradients from the recorded tape, params updated in place."""
    with gn.eager():
        ps = [gn.param(f"p{i}", a.shape, init=a) for i, a in enumerate(init)]
    xt, yt = gn.tensor(x), gn.tensor(y)

    def step() -> float:
        with gn.eager():
            loss = gn.cross_entropy(gn.softmax(_logits(xt, ps)), yt)
            for p, g in zip(ps, gn.grad(loss, ps)):
                p.assign(p - lr * g)
        return float(loss)

    return step


def graphnn_compiled_step(init: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> Callable[[], float]:
    """The same step as one compiled static graph (forward, symbolic backward, updates)."""
    with gn.Graph("mlp") as g:
        xv, yv = gn.input("x", (None, x.shape[1])), gn.input("y", (None,), "int64")
        ps = [gn.param(f"p{i}", a.shape, init=a) for i, a in enumerate(init)]
        loss = gn.cross_entropy(gn.softmax(_logits(xv, ps)), yv)
        grads = gn.grad(loss, ps)
    fn = gn.compile(g, outputs={"loss": loss}, updates={p: p - lr * gp for p, gp in zip(ps, grads)})
    return lambda: float(fn(x=x, y=y)["loss"])


def torch_eager_step(init: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> Callable[[], float] | None:
    """PyTorch eager on CPU, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    if os.environ.get("BENCH_THREADS"):  # set by `python -m benchmarks --threads N`
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    ps = [torch.tensor(a, requires_grad=True) for a in init]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> float:
        h = xt
        for k in range(0, len(ps), 2):
            h = h @ ps[k] + ps[k + 1]
            if k < len(ps) - 2:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, yt)
        for p in ps:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p -= lr * p.grad
        return float(loss.detach())

    return step


def eager_rows(steps: int = 20, warmup: int = 3, seed: int = 0, mlps: Any = MLPS) -> list[dict[str, Any]]:
    """One row per (MLP, batch): median ms per training step for graphnn eager, graphnn compiled and torch eager."""
    rows = []
    for sizes, batch in mlps:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
        y = rng.integers(0, sizes[-1], batch).astype(np.int64)
        init = _init(sizes, seed)
        row: dict[str, Any] = {"model": "-".join(map(str, sizes)), "batch": batch}
        row["graphnn_eager_ms"] = _time(graphnn_eager_step(init, x, y, 0.01), steps, warmup)
        row["graphnn_compiled_ms"] = _time(graphnn_compiled_step(init, x, y, 0.01), steps, warmup)
        ts = torch_eager_step(init, x, y, 0.01)
        row["torch_eager_ms"] = _time(ts, steps, warmup) if ts is not None else None
        rows.append(row)
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A small text table of `eager_rows()`."""
    head = f"{'model':<18}{'batch':>6}{'gn eager ms':>13}{'gn compiled ms':>16}{'torch eager ms':>16}"
    lines = [head]
    for r in rows:
        t = f"{r['torch_eager_ms']:16.3f}" if r["torch_eager_ms"] is not None else f"{'n/a':>16}"
        lines.append(f"{r['model']:<18}{r['batch']:>6}{r['graphnn_eager_ms']:13.3f}{r['graphnn_compiled_ms']:16.3f}{t}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_rows(eager_rows()))
