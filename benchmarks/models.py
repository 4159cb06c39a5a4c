"""The benchmark models as graphnn graphs: MLP training steps (forward, backward, plain SGD) and inference.

Gradients come from gn.grad (the autodiff pass); the loss is written as the naive composition, as a user
would, and the passes turn it into the fused stable op.
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
        h = x
        for k in range(len(ws)):
            z = h @ ws[k] + bs[k]
            h = gn.relu(z) if k < len(ws) - 1 else z
        logits = h
        if not train:
            return g, {"probs": gn.softmax(logits)}, {}
        y = gn.input("y", (None,), "int64")
        loss = gn.cross_entropy(gn.softmax(logits), y)  # naive composition; the passes fuse it
        params = [p for pair in zip(ws, bs) for p in pair]
        grads = gn.grad(loss, params)
        return g, {"loss": loss}, {p: p - lr * gp for p, gp in zip(params, grads)}
