"""`python -m benchmarks.lstm [--threads 1] [--rounds 7] [--clock wall|cpu]`: an LSTM language-model step (embedding-free: features 64
-> LSTM hidden 128 -> linear 64 classes, softmax cross-entropy over every step, SGD; T 32, batch 32) in graphnn
against PyTorch eager and JAX jit, inference against onnxruntime on graphnn's exported file, and the scan's
per-step overhead (a body of one tiny op). Interleaved rounds, medians, ratios to graphnn printed. "graphnn generic"
is the same model with the fused LSTM loops (backends/numpy/recurrent_cell.py) switched off: the scans run their
planned bodies step by step.
"""

from __future__ import annotations

import os

from benchmarks.env import prepare  # before NumPy loads

prepare("benchmarks.lstm")

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

B, T, F, H, V = 32, 32, 64, 128, 64
LR = 0.01


def data() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    y = rng.integers(0, V, (B, T)).astype(np.int64)
    k = 1 / np.sqrt(H)
    w = {"weight_ih_l0": rng.uniform(-k, k, (4 * H, F)), "weight_hh_l0": rng.uniform(-k, k, (4 * H, H)),
         "bias_ih_l0": rng.uniform(-k, k, 4 * H), "bias_hh_l0": rng.uniform(-k, k, 4 * H),
         "head_w": rng.uniform(-k, k, (H, V)), "head_b": np.zeros(V)}
    return x, y, {n: a.astype(np.float32) for n, a in w.items()}


def graphnn_runners(x: np.ndarray, y: np.ndarray, w: dict, fused: bool = True) -> tuple[Callable, Callable, str]:
    import graphnn as gn
    from graphnn.backends.numpy import recurrent_cell

    with gn.Graph("lstm_lm") as g:
        xi = gn.input("x", (None, T, F))
        yi = gn.input("y", (None, T), "int64")
        lstm = gn.nn.LSTM(F, H)
        head = gn.nn.Linear(H, V)
        out, _ = lstm(xi)
        logits = head(out)
        loss = gn.cross_entropy(gn.softmax(logits), yi)
    for p in lstm.params:
        g.storage.values[p.name][...] = w[p.name.rsplit("/", 1)[1]]
    g.storage.values[head.weight.name][...] = w["head_w"]
    train = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(LR).updates(loss, g.params))
    infer = gn.compile(g, outputs={"logits": logits}, mode="eval")
    path = os.path.join(tempfile.mkdtemp(), "lstm_lm.onnx")
    gn.onnx.export(g, path, outputs={"logits": logits}, check_parity=False)
    recurrent_cell.ENABLED = fused  # read when a plan is built: on the first call
    try:
        train(x=x, y=y)
        infer(x=x)
    finally:
        recurrent_cell.ENABLED = True
    return (lambda: train(x=x, y=y)), (lambda: infer(x=x)), path


def torch_runners(x: np.ndarray, y: np.ndarray, w: dict) -> tuple[Callable, Callable]:
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    lstm, head = torch.nn.LSTM(F, H, batch_first=True), torch.nn.Linear(H, V)
    with torch.no_grad():
        for n, p in lstm.named_parameters():
            p.copy_(torch.tensor(w[n]))
        head.weight.copy_(torch.tensor(w["head_w"].T))
        head.bias.zero_()
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, LR)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(lstm(xt)[0]).reshape(-1, V), yt.reshape(-1))
        loss.backward()
        opt.step()
        return loss

    def infer() -> Any:
        with torch.no_grad():
            return head(lstm(xt)[0])

    return step, infer


def jax_runner(x: np.ndarray, y: np.ndarray, w: dict) -> Callable:
    import jax
    import jax.numpy as jnp

    ps = {k: jnp.asarray(v) for k, v in w.items()}

    def loss_fn(p: dict, xb: Any, yb: Any) -> Any:
        xp = jnp.swapaxes(xb, 0, 1) @ p["weight_ih_l0"].T + p["bias_ih_l0"] + p["bias_hh_l0"]
        whh = p["weight_hh_l0"].T

        def cell(c: Any, xt: Any) -> Any:
            h, cc = c
            z = xt + h @ whh
            i, f, gg, o = jnp.split(z, 4, axis=-1)
            cc = jax.nn.sigmoid(f) * cc + jax.nn.sigmoid(i) * jnp.tanh(gg)
            h = jax.nn.sigmoid(o) * jnp.tanh(cc)
            return (h, cc), h

        zero = jnp.zeros((xb.shape[0], H), jnp.float32)
        _, hs = jax.lax.scan(cell, (zero, zero), xp)
        logits = jnp.swapaxes(hs, 0, 1) @ p["head_w"] + p["head_b"]
        logp = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(logp, yb[..., None], axis=-1).mean()

    @jax.jit
    def update(p: dict, xb: Any, yb: Any) -> Any:
        loss, gr = jax.value_and_grad(loss_fn)(p, xb, yb)
        return jax.tree_util.tree_map(lambda a, b: a - LR * b, p, gr), loss

    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def step() -> Any:
        nonlocal ps
        ps, loss = update(ps, xj, yj)
        return loss.block_until_ready()

    return step


def ort_runner(path: str, x: np.ndarray) -> Callable:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, {"x": x})


def scan_overhead(steps: int = 2000) -> float:
    """Seconds per step of a scan whose body is one add on a 1-element carry: the loop's own cost."""
    import graphnn as gn

    with gn.Graph("overhead") as g:
        xs = gn.input("xs", (None, 1))
        h, _ = gn.scan(lambda c, xt: (c + xt, None), gn.constant(np.zeros(1, np.float32)), xs)
    fn = gn.compile(g, outputs={"h": h})
    xs_a = np.ones((steps, 1), np.float32)
    fn(xs=xs_a)
    best = min(_time(lambda: fn(xs=xs_a), 1) for _ in range(5))
    return best / steps


# "cpu" counts the process's CPU seconds (every thread): with --threads 1 on a machine other jobs share, it
# leaves out the time this process waited for a core (idle pools do not spin: OMP_WAIT_POLICY=PASSIVE).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _time(fn: Callable, n: int, clock: str = "wall") -> float:
    now = CLOCKS[clock]
    t0 = now()
    for _ in range(n):
        fn()
    return (now() - t0) / n


def interleaved(runners: dict[str, Callable], rounds: int, per: int, clock: str = "wall") -> dict[str, float]:
    for r in runners.values():  # warm up: plans, jit compiles, allocator
        r()
        r()
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for k, r in runners.items():
            times[k].append(_time(r, per, clock))
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default=os.environ.get("OMP_NUM_THREADS", "1"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--per", type=int, default=5, help="calls per timed round")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall: elapsed time; cpu: this process's CPU time (robust to other jobs on the cores)")
    args = ap.parse_args(argv)
    x, y, w = data()
    g_train, g_infer, path = graphnn_runners(x, y, w)
    generic_train, generic_infer, _ = graphnn_runners(x, y, w, fused=False)
    train = {"graphnn": g_train, "graphnn generic": generic_train}
    infer = {"graphnn": g_infer, "graphnn generic": generic_infer}
    for name, make in (("torch eager", lambda: torch_runners(x, y, w)), ("jax jit", lambda: (jax_runner(x, y, w),))):
        try:
            made = make()
        except ImportError as e:
            print(f"{name}: skipped ({e})")
            continue
        train[name] = made[0]
        if len(made) > 1:
            infer[name] = made[1]
    try:
        infer["onnxruntime"] = ort_runner(path, x)
    except ImportError as e:
        print(f"onnxruntime: skipped ({e})")
    res = {"train": interleaved(train, args.rounds, args.per, args.clock),
           "infer": interleaved(infer, args.rounds, args.per, args.clock)}
    print(f"LSTM F {F} -> H {H} -> {V} classes, T {T}, batch {B}, float32, {args.threads} thread(s), "
          f"median of {args.rounds} interleaved rounds of {args.per} calls, {args.clock} clock")
    for what, row in res.items():
        base = row["graphnn"]
        cells = ", ".join(f"{k} {v * 1e3:.2f} ms (graphnn/{k} = {base / v:.2f}x)" for k, v in row.items() if k != "graphnn")
        print(f"  {what}: graphnn {base * 1e3:.2f} ms; {cells}")
    res["scan_step_overhead_s"] = scan_overhead()
    print(f"  scan loop overhead: {res['scan_step_overhead_s'] * 1e6:.1f} us per step (1-element body)")
    return res


if __name__ == "__main__":
    main()
