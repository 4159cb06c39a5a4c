"""XOR with a 2-2-1 network: tanh hidden layer, sigmoid output, binary cross-entropy, plain SGD.

The whole training step (forward, the backward graph derived by gn.grad, and the update) is one static
graph compiled once; each call runs it and writes the new weights in place.
"""

from __future__ import annotations

import numpy as np

import graphnn as gn

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
T = np.array([[0], [1], [1], [0]], dtype=np.float32)


def main(epochs: int = 2000, lr: float = 0.5, seed: int = 0, verbose: bool = True, backend: str = "numpy"
         ) -> np.ndarray:
    """Train on the four XOR points on `backend` ("numpy" or "cupy"); returns the final predicted probabilities."""
    rng = np.random.default_rng(seed)
    with gn.Graph("xor") as g:
        x = gn.input("x", (None, 2))
        t = gn.input("t", (None, 1))
        w1 = gn.param("w1", (2, 2), init=rng.normal(0.0, 1.0, (2, 2)))
        b1 = gn.param("b1", (2,), init=np.zeros(2))
        w2 = gn.param("w2", (2, 1), init=rng.normal(0.0, 1.0, (2, 1)))
        b2 = gn.param("b2", (1,), init=np.zeros(1))
        h = gn.tanh(x @ w1 + b1)
        p = gn.sigmoid(h @ w2 + b2)
        loss = gn.binary_cross_entropy(p, t)
        params = [w1, b1, w2, b2]
        grads = gn.grad(loss, params)  # symbolic: more nodes of this graph, expanded when compiled

    step = gn.compile(g, outputs={"loss": loss}, updates={w: w - lr * gw for w, gw in zip(params, grads)},
                      backend=backend)
    # Shares the trained weights with `step`; host_outputs: NumPy results even when the step runs on a GPU.
    predict = gn.compile(g, outputs={"p": p}, backend=backend, host_outputs=True)

    for epoch in range(epochs + 1):
        out = step(x=X, t=T)
        if verbose and epoch % max(1, epochs // 10) == 0:
            print(f"epoch {epoch:5d}  loss {float(out['loss']):.5f}")
    probs = predict(x=X)["p"]  # predicting needs no targets
    if verbose:
        for xi, ti, pi in zip(X, T, probs):
            print(f"  {xi.astype(int)} -> {float(pi[0]):.4f}  (target {int(ti[0])})")
        acc = float(np.mean((probs > 0.5) == (T > 0.5)))
        print(f"accuracy {acc:.0%}")
    return probs


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="where to train (cupy: a GPU)")
    a = ap.parse_args()
    main(epochs=a.epochs, backend=a.backend)
