"""A maxout network (Goodfellow et al. 2013) on a 1-D regression, and a plot of one learned maxout unit:
the unit is the upper envelope of its affine pieces, so it learns a convex piecewise-linear function.

    python examples/maxout.py [--epochs 300] [--out out/maxout]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import graphnn as gn
from graphnn import nn


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--pieces", type=int, default=4)
    ap.add_argument("--out", default="out/maxout")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="where to train (cupy: a GPU)")
    args = ap.parse_args(argv)

    x_train = np.linspace(-2, 2, 200, dtype=np.float32)[:, None]
    y_train = np.abs(x_train) + 0.3 * np.sin(3 * x_train)  # a wiggly target; the network mixes convex units

    with gn.Graph("maxout") as g:
        x = gn.input("x", (None, 1))
        target = gn.input("t", (None, 1))
        unit_layer = nn.Maxout(1, 8, pieces=args.pieces)
        hidden = unit_layer(x)
        pred = nn.Linear(8, 1)(hidden)
        loss = gn.mse(pred, target)

    history = gn.train.fit(loss, {"x": x_train, "t": y_train}, gn.optim.Adam(0.02), epochs=args.epochs,
                           batch_size=50, progress=False, verbose=False, backend=args.backend)
    fn = gn.compile(g, outputs={"hidden": hidden, "pred": pred}, mode="eval", backend=args.backend, host_outputs=True)
    grid = np.linspace(-2, 2, 400, dtype=np.float32)[:, None]
    out = fn(x=grid, t=np.zeros_like(grid))
    w = g.storage[unit_layer.linear.weight.name]  # (1, 8 * pieces): unit j owns columns j*pieces .. +pieces
    b = g.storage[unit_layer.linear.b.name]
    pieces = grid @ w[:, :args.pieces] + b[:args.pieces]  # the affine pieces of unit 0
    print(f"final mse {history['loss'][-1]:.3e}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for k in range(args.pieces):
        a1.plot(grid[:, 0], pieces[:, k], "--", lw=1, label=f"piece {k}")
    a1.plot(grid[:, 0], out["hidden"][:, 0], "k", lw=2.5, alpha=0.6, label="maxout unit 0")
    a1.set_title("a learned maxout unit = max of its affine pieces")
    a1.legend(fontsize=7)
    a2.plot(x_train[:, 0], y_train[:, 0], ".", ms=3, label="data")
    a2.plot(grid[:, 0], out["pred"][:, 0], label="network")
    a2.set_title("maxout network fit")
    a2.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "maxout_unit.png"), dpi=90)
    plt.close(fig)
    return {"unit": out["hidden"][:, 0], "pieces": pieces, "history": history}


if __name__ == "__main__":
    main()
