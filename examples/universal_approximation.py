"""Universal approximation: one hidden tanh layer fitting sin(x) on [-pi, pi], and a plot of the fit.

    python examples/universal_approximation.py [--epochs 600] [--hidden 20] [--out out/universal_approximation]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import graphnn as gn
from graphnn import nn


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=600)
    ap.add_argument("--hidden", type=int, default=20)
    ap.add_argument("--out", default="out/universal_approximation")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="where to train (cupy: a GPU)")
    args = ap.parse_args(argv)

    x_train = np.linspace(-np.pi, np.pi, 256, dtype=np.float32)[:, None]
    y_train = np.sin(x_train)

    with gn.Graph("sin") as g:
        x = gn.input("x", (None, 1))
        target = gn.input("t", (None, 1))
        model = nn.Sequential(nn.Linear(1, args.hidden), nn.Tanh(), nn.Linear(args.hidden, 1))
        pred = model(x)
        loss = gn.mse(pred, target)

    history = gn.train.fit(loss, {"x": x_train, "t": y_train}, gn.optim.Adam(0.01),
                           schedule=gn.optim.ExponentialDecay(0.01, 0.995), epochs=args.epochs, batch_size=32,
                           progress=False, verbose=False, backend=args.backend)
    predict = gn.compile(g, outputs={"pred": pred}, mode="eval", backend=args.backend, host_outputs=True)
    x_grid = np.linspace(-np.pi, np.pi, 400, dtype=np.float32)[:, None]
    fit = predict(x=x_grid, t=np.zeros_like(x_grid))["pred"]
    max_err = float(np.abs(fit - np.sin(x_grid)).max())
    print(f"final mse {history['loss'][-1]:.2e}, max |error| on a fine grid {max_err:.3f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(x_grid[:, 0], np.sin(x_grid[:, 0]), label="sin(x)", lw=3, alpha=0.4)
    ax.plot(x_grid[:, 0], fit[:, 0], label=f"{args.hidden} tanh units", lw=1.5)
    ax.set_title("one hidden layer fitting sin on [-pi, pi]")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "fit.png"), dpi=90)
    plt.close(fig)
    return {"max_error": max_err, "history": history}


if __name__ == "__main__":
    main()
