"""`python -m benchmarks.compile_scaling`: graphnn's own compile cost as the graph grows, beside JAX jit.

A residual CNN (basic blocks: conv-BN-ReLU-conv-BN + skip, ReLU; 16 channels on 8x8 inputs) as an Adam training
step at 16..128 blocks:
nodes built -> compiled, each pass's time, planning time, build -> first result; JAX's trace+compile of the
same net when jax is installed (`pip install 'graphnn[bench]'`). Options: --blocks 16 32 64, --no-jax,
--threads N (BLAS/XLA threads for both libraries, set before they load: on a shared machine, 1 keeps the tiny GEMMs
of this net from waiting on busy cores).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from typing import Any

if "--threads" in sys.argv:  # before NumPy (and its BLAS) or JAX load
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_k] = _n
    if _n == "1":
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()

import numpy as np

import graphnn as gn

CHANNELS, SIDE, BATCH, CLASSES = 16, 8, 8, 10


def residual_cnn(blocks: int) -> tuple[gn.Graph, dict[str, Any], dict[str, Any]]:
    """(graph, outputs, updates): `blocks` basic blocks relu(h + BN(conv(relu(BN(conv(h)))))), mean pool, linear,
    softmax cross-entropy, Adam plus the running-statistics updates."""
    with gn.Graph(f"resnet{blocks}") as g:
        x = gn.input("x", (None, CHANNELS, SIDE, SIDE), "float32")
        y = gn.input("y", (None,), "int64")
        h = x
        for _ in range(blocks):
            a = gn.relu(gn.nn.BatchNorm2d(CHANNELS)(gn.nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)(h)))
            h = gn.relu(h + gn.nn.BatchNorm2d(CHANNELS)(gn.nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)(a)))
        logits = gn.nn.Linear(CHANNELS, CLASSES)(gn.mean(h, axis=(2, 3)))
        loss = gn.cross_entropy(gn.softmax(logits), y)
        updates = gn.optim.Adam(1e-3).updates(loss)
        updates.update(gn.nn.state_updates(g))
    return g, {"loss": loss}, updates


def feeds(seed: int = 0) -> dict[str, np.ndarray]:
    """One random batch."""
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((BATCH, CHANNELS, SIDE, SIDE)).astype(np.float32),
            "y": rng.integers(0, CLASSES, BATCH)}


def measure(blocks: int) -> dict[str, Any]:
    """Build, compile and run one step; times of each stage and of each pass."""
    t0 = time.perf_counter()
    g, outs, ups = residual_cnn(blocks)
    t1 = time.perf_counter()
    fn = gn.compile(g, outputs=outs, updates=ups)
    t2 = time.perf_counter()
    fn(**feeds())
    t3 = time.perf_counter()
    passes: dict[str, float] = {}
    for r in fn.report().records:
        passes[r.name] = passes.get(r.name, 0.0) + r.seconds
    return {"blocks": blocks, "built": len(g.nodes), "compiled": len(fn.graph.nodes), "build": t1 - t0,
            "compile": t2 - t1, "first_call": t3 - t2, "total": t3 - t0,
            "planning": getattr(fn.report(), "planning_seconds", None),  # None on versions without the timer
            "passes": passes}


def jax_seconds(blocks: int) -> float | None:
    """JAX jit's trace + compile + first call of the same training step (None without jax)."""
    try:
        import jax  # optional: the bench extra
        import jax.numpy as jnp
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    params = {"convs": [(rng.standard_normal((CHANNELS, CHANNELS, 3, 3)).astype(np.float32) * 0.1,
                         np.zeros((CHANNELS, 1, 1), np.float32), np.ones(CHANNELS, np.float32),
                         np.zeros(CHANNELS, np.float32)) for _ in range(2 * blocks)],
              "w": rng.standard_normal((CHANNELS, CLASSES)).astype(np.float32) * 0.1,
              "b": np.zeros(CLASSES, np.float32)}

    def loss_fn(p: Any, x: Any, y: Any) -> Any:
        def conv_bn(h: Any, k: Any, b: Any, gamma: Any, beta: Any) -> Any:
            c = jax.lax.conv_general_dilated(h, k, (1, 1), ((1, 1), (1, 1))) + b
            mu = c.mean(axis=(0, 2, 3), keepdims=True)
            var = ((c - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)
            return (c - mu) / jnp.sqrt(var + 1e-5) * gamma[None, :, None, None] + beta[None, :, None, None]

        h = x
        convs = p["convs"]
        for i in range(0, len(convs), 2):
            h = jax.nn.relu(h + conv_bn(jax.nn.relu(conv_bn(h, *convs[i])), *convs[i + 1]))
        logits = h.mean(axis=(2, 3)) @ p["w"] + p["b"]
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1).mean()

    def step(p: Any, m: Any, v: Any, t: Any, x: Any, y: Any) -> Any:
        loss, gr = jax.value_and_grad(loss_fn)(p, x, y)
        t = t + 1.0
        m = jax.tree_util.tree_map(lambda a, b: 0.9 * a + 0.1 * b, m, gr)
        v = jax.tree_util.tree_map(lambda a, b: 0.999 * a + 0.001 * b * b, v, gr)
        p = jax.tree_util.tree_map(
            lambda q, a, b: q - 1e-3 * (a / (1 - 0.9**t)) / (jnp.sqrt(b / (1 - 0.999**t)) + 1e-8), p, m, v)
        return loss, p, m, v, t

    zeros = jax.tree_util.tree_map(np.zeros_like, params)
    f = feeds()
    t0 = time.perf_counter()
    out = jax.jit(step)(params, zeros, zeros, np.float32(0.0), f["x"], f["y"])
    jax.block_until_ready(out)
    return time.perf_counter() - t0


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table: one row per size, growth of build -> first result per doubling."""
    names = list(dict.fromkeys(k for r in rows for k in r["passes"]))
    head = ["blocks", "nodes built -> compiled", "build", "gn.compile", "of which passes", "first call",
            "of which planning", "build -> first result", "growth", "JAX jit"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    prev = None
    for r in rows:
        growth = f"{r['total'] / prev:.2f}x" if prev else ""
        jx = f"{r['jax']:.2f} s" if r.get("jax") is not None else "n/a"
        plan = f"{r['planning']:.2f} s" if r["planning"] is not None else "n/a"
        lines.append(f"| {r['blocks']} | {r['built']:,} -> {r['compiled']:,} | {r['build']:.2f} s | "
                     f"{r['compile']:.2f} s | {sum(r['passes'].values()):.2f} s | {r['first_call']:.2f} s | {plan} | "
                     f"{r['total']:.2f} s | {growth} | {jx} |")
        prev = r["total"]
    lines += ["", "Per pass (seconds, summed over repeats of a pass):", "",
              "| blocks | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for r in rows:
        lines.append(f"| {r['blocks']} | " + " | ".join(f"{r['passes'].get(n, 0.0):.3f}" for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure every size and print the table."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compile_scaling", description=__doc__)
    ap.add_argument("--blocks", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    rows = []
    for b in args.blocks:
        gc.collect()  # each size starts from the heap a fresh process would have, not the last size's garbage
        r = measure(b)
        r["jax"] = None if args.no_jax else jax_seconds(b)
        rows.append(r)
        print(f"  {b} blocks: {r['total']:.2f} s", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
