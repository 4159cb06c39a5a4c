"""Hyperparameter search: a grid (or random sample) over learning rate and hidden width for the digits MLP,
each scored on a held-out validation set; the best configuration is then scored once on the test set.

    python examples/hyperparameter_search.py [--epochs 10] [--random 0] [--out out/hyperparameter_search]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphnn as gn
from graphnn import nn

LEARNING_RATES = (1e-3, 3e-3, 1e-2)
WIDTHS = (32, 128)


def build(width: int) -> tuple[gn.Value, gn.Value]:
    with gn.Graph(f"mlp{width}"):
        x = gn.input("x", (None, 64))
        labels = gn.input("y", (None,), "int64")
        logits = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))(x)
        return gn.cross_entropy(gn.softmax(logits), labels), gn.train.accuracy(logits, labels)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--random", type=int, default=0, help="sample this many random configurations instead")
    ap.add_argument("--out", default="out/hyperparameter_search")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="where to train (cupy: a GPU)")
    args = ap.parse_args(argv)

    digits = load_digits()
    X, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    X_tr, X_val, y_tr, y_val = train_test_split(X_rest, y_rest, test_size=0.2, random_state=1, stratify=y_rest)

    if args.random:
        rng = np.random.default_rng(0)
        configs = [(float(10 ** rng.uniform(-3.3, -1.7)), int(rng.choice([16, 32, 64, 128, 256])))
                   for _ in range(args.random)]
    else:
        configs = list(itertools.product(LEARNING_RATES, WIDTHS))
    results = []
    for lr, width in configs:
        loss, acc = build(width)
        trainer = gn.train.Trainer(loss, gn.optim.Adam(lr), metrics={"accuracy": acc}, backend=args.backend)
        h = trainer.fit({"x": X_tr, "y": y_tr}, validation_data={"x": X_val, "y": y_val}, epochs=args.epochs,
                        batch_size=32, progress=False, verbose=False)
        results.append({"lr": lr, "width": width, "val_accuracy": h["val_accuracy"][-1],
                        "val_loss": h["val_loss"][-1], "trainer": trainer})
        print(f"lr={lr:.4g} width={width:4d}: val_accuracy={h['val_accuracy'][-1]:.4f}")
    best = max(results, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    test = best["trainer"].evaluate({"x": X_test, "y": y_test})
    print(f"best: lr={best['lr']:.4g} width={best['width']} -> test accuracy {test['accuracy']:.4f}")
    os.makedirs(args.out, exist_ok=True)
    table = [{k: v for k, v in r.items() if k != "trainer"} for r in results]
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"results": table, "best": {"lr": best["lr"], "width": best["width"]}, "test": test}, f, indent=1)
    return {"results": table, "best": best, "test": test}


if __name__ == "__main__":
    main()
