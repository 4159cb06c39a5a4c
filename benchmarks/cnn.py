"""`python -m benchmarks.cnn [--threads N] [--rounds R] [--quick]`: convolutional nets against PyTorch eager
(training steps) and onnxruntime (inference on graphnn's own export), medians of interleaved rounds.

Rows: the VGG-like step (batch 64), its inference at batch 1 and 64, a ResNet-18-shaped step, and the light
ResNet-50 from the onnx package at batch 1 (skipped with the reason while its import fails). Without --threads it
runs itself twice, single thread and default threads. GFLOP/s count the convolutions and the linear layer only;
the peak is NumPy's float32 GEMM measured in the same process. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and "--threads" not in sys.argv:  # one child per thread setting, each set before imports
    import subprocess

    from benchmarks.env import PINS

    env = {k: v for k, v in os.environ.items() if k not in PINS}
    for n in ("1", "0"):
        subprocess.run([sys.executable, "-m", "benchmarks.cnn", "--threads", n, *sys.argv[1:]], env=env, check=False)
    sys.exit(0)
if __name__ == "__main__":  # before NumPy loads
    from benchmarks.env import prepare

    prepare("benchmarks.cnn")

import argparse
import pathlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import graphnn as gn

from .cnn_models import conv_flops, data, gn_graph, resnet18_gn, torch_net, vgg_gn

Step = Callable[[], Any]


def gemm_peak(n: int = 1024) -> float:
    """NumPy's float32 GEMM rate in GFLOP/s (best of five n^3 products)."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    best = min(_once(lambda: a @ a) for _ in range(5))
    return 2 * n**3 / best / 1e9


def _once(f: Step) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def gn_step(net: Any, batch: int, train: bool) -> tuple[Step, Any, dict]:
    g, outs, ups = gn_graph(net, (3, 32, 32), train)
    fn = gn.compile(g, outs, ups or None)
    x, y = data(batch)
    feeds = {"x": x, "y": y} if train else {"x": x}
    fn(**feeds)
    return (lambda: fn(**feeds)), fn, feeds


def torch_step(kind: str, batch: int, threads: int) -> Step:
    import torch
    import torch.nn.functional as F

    if threads:
        torch.set_num_threads(threads)
    net = torch_net(kind)
    x, y = (torch.from_numpy(a) for a in data(batch))

    def step() -> Any:
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        with torch.no_grad():
            for p in net.parameters():
                p.sub_(p.grad, alpha=0.01)
                p.grad = None
        return loss

    step()
    return step


def ort_session(model: Any, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def vgg_infer_rows(threads: int) -> list[tuple[str, float, dict[str, Step]]]:
    g, outs, _ = gn_graph(vgg_gn, (3, 32, 32), False)
    model = gn.onnx.export(g, None, outputs=outs, check_parity=False).model
    sess = ort_session(model, threads)
    fn = gn.compile(g, outs)
    rows = []
    for b in (1, 64):
        x = data(b)[0]
        fn(x=x)
        feed = {sess.get_inputs()[0].name: x}
        rows.append((f"infer VGG-like, batch {b}", conv_flops("vgg", b, False),
                     {"graphnn": (lambda x=x: fn(x=x)), "onnxruntime": (lambda feed=feed: sess.run(None, feed))}))
    return rows


def resnet50_row(threads: int) -> tuple[str, float, dict[str, Step]] | str:
    """The light ResNet-50 of onnx's backend test data at batch 1, or why it does not run."""
    import onnx

    path = pathlib.Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"
    if not path.exists():
        return f"{path} is not in this onnx package"
    try:
        g = gn.onnx.load(str(path))
        fn = gn.compile(g)
    except gn.GraphnnError as e:
        msg = " ".join(str(e).split())
        return f"gn.onnx.load fails: {msg[msg.find('node(s)') - 4 if 'node(s)' in msg else 0:][:400]}"
    sess = ort_session(onnx.load(str(path)), threads)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    name = sess.get_inputs()[0].name
    fn(**{g.inputs[0].name: x})
    return ("infer light ResNet-50 (onnx package), batch 1", 2 * 4.1e9,
            {"graphnn": lambda: fn(**{g.inputs[0].name: x}), "onnxruntime": lambda: sess.run(None, {name: x})})


def measure(runners: dict[str, Step], rounds: int, block: float) -> dict[str, float]:
    """Median per-call seconds of each runner over interleaved rounds (each round: every runner, n calls)."""
    n = {k: max(1, int(block / max(_once(f), 1e-6))) for k, f in runners.items()}
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for k, f in runners.items():
            t0 = time.perf_counter()
            for _ in range(n[k]):
                f()
            times[k].append((time.perf_counter() - t0) / n[k])
    return {k: statistics.median(v) for k, v in times.items()}


def conv_table(fn: Any, feeds: dict) -> str:
    """The profile's convolution rows: algorithm, layout and GFLOP/s per node (fn.profile)."""
    prof = fn.profile(feeds, repeat=3)
    lines = [r for r in prof.table().splitlines() if "conv" in r or "share" in r]
    return "\n".join(lines[:13])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0, help="0: the libraries' defaults")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="3 rounds, short blocks, no ResNet rows")
    a = ap.parse_args()
    rounds, block = (3, 0.2) if a.quick else (a.rounds, 0.5)
    peak = gemm_peak()
    rows: list[tuple[str, float, dict[str, Step]]] = []
    vgg, vfn, vfeeds = gn_step(vgg_gn, 64, True)
    rows.append(("train VGG-like, batch 64", conv_flops("vgg", 64, True),
                 {"graphnn": vgg, "torch eager": torch_step("vgg", 64, a.threads)}))
    rows += vgg_infer_rows(a.threads)
    skipped = []
    if not a.quick:
        res, _, _ = gn_step(resnet18_gn, 8, True)
        rows.append(("train ResNet-18-shaped (32x32), batch 8", conv_flops("resnet", 8, True),
                     {"graphnn": res, "torch eager": torch_step("resnet", 8, a.threads)}))
        r50 = resnet50_row(a.threads)
        if isinstance(r50, str):
            skipped.append(f"light ResNet-50: skipped: {r50}")
        else:
            rows.append(r50)
    load = os.getloadavg()
    print(f"\n## threads: {a.threads or 'default'}; GEMM peak {peak:.0f} GFLOP/s; load average {load[0]:.1f} "
          f"on {os.cpu_count()} cores; {rounds} interleaved rounds, medians")
    print(f"{'case':<48} {'graphnn':>10} {'peer':>10} {'ratio':>6} {'gn GF/s':>8} {'peer GF/s':>9} {'gn %peak':>8}")
    for name, flops, runners in rows:
        t = measure(runners, rounds, block)
        peer = next(k for k in runners if k != "graphnn")
        g, p = t["graphnn"], t[peer]
        print(f"{name:<48} {g * 1e3:8.2f}ms {p * 1e3:8.2f}ms {g / p:5.2f}x {flops / g / 1e9:8.1f} {flops / p / 1e9:9.1f} "
              f"{flops / g / 1e9 / peak * 100:7.0f}%  ({peer})")
    for s in skipped:
        print(s)
    print("\nVGG-like training step, convolution nodes (fn.profile):")
    print(conv_table(vfn, vfeeds))


if __name__ == "__main__":
    main()
