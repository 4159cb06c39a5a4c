"""The benchmark models as graphnn graphs: MLP training steps (forward, backward, plain SGD) and inference.

The backward graph is written out here (the same math as autodiff's rules) so the benchmark does not wait on
gradient rules; `gradients="auto"` uses gn.grad where the autodiff pass can expand it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import graphnn as gn


def init_mlp(sizes: list[int], seed: int = 0) -> list[np.ndarray]:
    """He-normal weights and zero biases, float32, as [w0, b0, w1, b1, ...] (shared by every peer)."""
    rng = np.random.default_rng(seed)
    ps = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        ps.append((rng.standard_normal((i, o)) * np.sqrt(2.0 / i)).astype(np.float32))
        ps.append(np.zeros(o, np.float32))
    return ps


def mlp_graph(sizes: list[int], params: list[np.ndarray], lr: float, train: bool) -> tuple[gn.Graph, dict, dict]:
    """(graph, outputs, updates) of the MLP with ReLU hidden layers and softmax cross-entropy on int labels."""
    with gn.Graph("mlp") as g:
        x = gn.input("x", (None, sizes[0]), "float32")
        ws, bs = [], []
        for k in range(len(sizes) - 1):
            ws.append(gn.param(f"w{k}", params[2 * k].shape, init=params[2 * k]))
            bs.append(gn.param(f"b{k}", params[2 * k + 1].shape, init=params[2 * k + 1]))
        hs, h = [x], x
        for k in range(len(ws)):
            z = h @ ws[k] + bs[k]
            h = gn.relu(z) if k < len(ws) - 1 else z
            hs.append(h)
        logits = h
        if not train:
            return g, {"probs": gn.softmax(logits)}, {}
        y = gn.input("y", (None,), "int64")
        p = gn.softmax(logits)
        loss = gn.cross_entropy(p, y)
        # d loss / d logits = (softmax - onehot) / batch for the mean reduction
        onehot = gn.one_hot(y, sizes[-1])
        batch = gn.sum(onehot)  # the number of rows, as a float32 scalar
        d = (p - onehot) / batch
        ups = {}
        for k in reversed(range(len(ws))):
            gw = gn.transpose(hs[k]) @ d
            gb = gn.sum(d, axis=0)
            if k > 0:
                d = (d @ gn.transpose(ws[k])) * gn.cast(hs[k] > 0.0, "float32")  # ReLU mask
            ups[ws[k]] = ws[k] - lr * gw
            ups[bs[k]] = bs[k] - lr * gb
        return g, {"loss": loss}, ups
