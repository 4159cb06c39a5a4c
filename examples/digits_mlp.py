"""Handwritten digits (8x8, scikit-learn) with a one-hidden-layer MLP: the README demo.

Declares the graph once, trains it with gn.train.fit (Adam, cosine schedule, dropout, in-graph monitors), reports test
accuracy and wall time, and writes the training curves, the parameters, an ONNX model and a graph drawing
into --out.   python examples/digits_mlp.py [--epochs 30] [--out out/digits_mlp] [--backend cupy]
Data parallel on 2 processes (same global batches; rank 0 prints and writes):
    mpiexec -n 2 python examples/digits_mlp.py --distributed
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphnn as gn
from graphnn import nn


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", default="out/digits_mlp")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="where to train (cupy: a GPU)")
    ap.add_argument("--distributed", action="store_true", help="data parallel over the ranks of `mpiexec -n P`")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)  # pixel intensities 0..16 -> 0..1
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)

    with gn.Graph("digits_mlp") as g:
        x = gn.input("x", (None, 64))
        labels = gn.input("y", (None,), "int64")
        model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(args.hidden, 10))
        logits = model(x)
        probs = gn.softmax(logits)
        loss = gn.cross_entropy(probs, labels)  # the naive composition: the compiler fuses it
        accuracy = gn.train.accuracy(logits, labels)
        g.output("probs", probs)

    history = gn.train.fit(
        loss, {"x": X_train, "y": y_train}, gn.optim.Adam(args.lr), metrics={"accuracy": accuracy},
        schedule=gn.optim.CosineDecay(args.lr, args.epochs), epochs=args.epochs, batch_size=32,
        validation_split=0.1, monitor=["grad_norm", "dead_relu"], monitor_every=20,
        log_dir=os.path.join(args.out, "logs"), progress=True, backend=args.backend, distributed=args.distributed)
    test = history.trainer.evaluate({"x": X_test, "y": y_test})  # distributed: every rank evaluates a part
    seconds = time.perf_counter() - t0
    if gn.dist.rank() != 0:  # rank 0 reports and writes the files
        return {"test_accuracy": test["accuracy"], "seconds": seconds, "history": history}
    ranks = f" on {gn.dist.size()} ranks" if args.distributed else ""
    print(f"test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f}, {seconds:.1f} s total{ranks}")

    os.makedirs(args.out, exist_ok=True)
    history.plot(os.path.join(args.out, "curves.png"))
    gn.save_params(g, os.path.join(args.out, "params.npz"))
    print("\nwhat the compiler did to the training step:")
    print(history.trainer.step_fn.report())
    onnx_path = os.path.join(args.out, "digits_mlp.onnx")
    report = gn.onnx.export(g, onnx_path, outputs={"probs": probs})  # eval mode: dropout removed
    print(f"\nONNX export:\n{report}")  # the report ends with the path it wrote
    html_path = os.path.join(args.out, "digits_mlp.html")
    gn.viz.save_html(history.trainer.step_fn, html_path, dims={"batch": 32})  # costs at the training batch
    print(f"wrote {html_path} (open it in a browser: the training step, forward and backward, pass by pass)")
    print(f"wrote {os.path.join(args.out, 'curves.png')} and {os.path.join(args.out, 'params.npz')}")
    return {"test_accuracy": test["accuracy"], "seconds": seconds, "history": history}


if __name__ == "__main__":
    main()
