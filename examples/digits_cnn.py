"""Handwritten digits with a small CNN: Conv2d + BatchNorm + ReLU + MaxPool2d twice, Dropout, Linear.

The step compiled in train mode uses batch statistics (and updates the running ones) and drops units; the
evaluation function compiled in eval mode uses the running statistics and no dropout.
    python examples/digits_cnn.py [--epochs 15] [--out out/digits_cnn] [--backend cupy]
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
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", default="out/digits_cnn")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="where to train (cupy: a GPU)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8): NCHW
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)

    with gn.Graph("digits_cnn") as g:
        x = gn.input("x", (None, 1, 8, 8))
        labels = gn.input("y", (None,), "int64")
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # -> 16 x 4 x 4
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # -> 32 x 2 x 2
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, 10),
        )
        logits = model(x)
        loss = gn.cross_entropy(gn.softmax(logits), labels)
        accuracy = gn.train.accuracy(logits, labels)

    history = gn.train.fit(loss, {"x": X_train, "y": y_train}, gn.optim.Adam(3e-3), metrics={"accuracy": accuracy},
                           schedule=gn.optim.CosineDecay(3e-3, args.epochs), epochs=args.epochs, batch_size=args.batch_size,
                           validation_split=0.1, progress=False,
                           backend=args.backend)
    test = history.trainer.evaluate({"x": X_test, "y": y_test})
    seconds = time.perf_counter() - t0
    print(f"test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f}, {seconds:.1f} s total")
    os.makedirs(args.out, exist_ok=True)
    history.plot(os.path.join(args.out, "curves.png"))
    gn.save_params(g, os.path.join(args.out, "params.npz"))
    return {"test_accuracy": test["accuracy"], "seconds": seconds, "history": history}


if __name__ == "__main__":
    main()
