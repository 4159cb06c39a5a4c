"""Transfer learning: train an MLP on digits 0-4, then freeze its body and fine-tune only a new last layer on
a new split (digits 5-9). The frozen body stays bit-identical; only the new head's parameters move.

    python examples/transfer_learning.py [--epochs 20] [--out out/transfer_learning]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphnn as gn
from graphnn import nn


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out", default="out/transfer_learning")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="where to train (cupy: a GPU)")
    args = ap.parse_args(argv)

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    old, new = y < 5, y >= 5
    Xa_tr, Xa_te, ya_tr, ya_te = train_test_split(X[old], y[old], test_size=0.25, random_state=0)
    # The new task: few labelled examples, so reusing the body's features matters.
    Xb_tr, Xb_te, yb_tr, yb_te = train_test_split(X[new], y[new] - 5, train_size=100, random_state=0)

    with gn.Graph("transfer") as g:
        x = gn.input("x", (None, 64))
        labels = gn.input("y", (None,), "int64")
        body = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), name="body")
        features = body(x)
        head_a, head_b = nn.Linear(64, 5, name="head_a"), nn.Linear(64, 5, name="head_b")
        logits_a, logits_b = head_a(features), head_b(features)
        loss_a = gn.cross_entropy(gn.softmax(logits_a), labels)
        loss_b = gn.cross_entropy(gn.softmax(logits_b), labels)
        acc_a, acc_b = gn.train.accuracy(logits_a, labels), gn.train.accuracy(logits_b, labels)

    # 1. Pre-train body + head_a on digits 0-4.
    pre = gn.train.Trainer(loss_a, gn.optim.Adam(3e-3), metrics={"accuracy": acc_a},
                           params=body.params + head_a.params, backend=args.backend)
    pre.fit({"x": Xa_tr, "y": ya_tr}, epochs=args.epochs, batch_size=32, progress=False, verbose=False)
    acc_old = pre.evaluate({"x": Xa_te, "y": ya_te})["accuracy"]

    # 2. Freeze the body; fine-tune only the new last layer on digits 5-9.
    body.trainable = False
    body_before = {p.name: g.storage[p.name].copy() for p in body.params}
    tune = gn.train.Trainer(loss_b, gn.optim.Adam(1e-2), metrics={"accuracy": acc_b}, params=head_b.params,
                            backend=args.backend)
    hist = tune.fit({"x": Xb_tr, "y": yb_tr}, epochs=args.epochs, batch_size=20, progress=False, verbose=False)
    acc_new = tune.evaluate({"x": Xb_te, "y": yb_te})["accuracy"]
    unchanged = all(np.array_equal(g.storage[k], v) for k, v in body_before.items())
    print(f"digits 0-4 (pre-training): test accuracy {acc_old:.4f}")
    print(f"digits 5-9 (last layer fine-tuned on {len(yb_tr)} examples): test accuracy {acc_new:.4f}")
    print(f"frozen body bit-identical after fine-tuning: {unchanged}")
    os.makedirs(args.out, exist_ok=True)
    hist.plot(os.path.join(args.out, "fine_tune_curves.png"))
    return {"acc_old": acc_old, "acc_new": acc_new, "body_unchanged": unchanged}


if __name__ == "__main__":
    main()
