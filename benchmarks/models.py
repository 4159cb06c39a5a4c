"""The benchmark models as graphnn graphs: MLP training steps (forward, backward, plain SGD) and inference.

Gradients come from gn.grad (the autodiff pass); the loss is written as the naive composition, as a user
would, and the passes turn it into the fused stable op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import graphnn as gn


def init_cnn(channels: int = 8, classes: int = 10, seed: int = 0) -> list[np.ndarray]:
    """Conv 3x3 (1 -> channels) weights, then a linear layer from the pooled 13x13 maps; float32."""
    rng = np.random.default_rng(seed)
    k = (rng.standard_normal((channels, 1, 3, 3)) * np.sqrt(2.0 / 9)).astype(np.float32)
    fan = channels * 13 * 13
    w = (rng.standard_normal((fan, classes)) * np.sqrt(1.0 / fan)).astype(np.float32)
    return [k, np.zeros(channels, np.float32), w, np.zeros(classes, np.float32)]


def cnn_graph(params: list[np.ndarray], lr: float) -> tuple[gn.Graph, dict, dict]:
    """conv 3x3 + bias + ReLU + maxpool 2x2 + linear on 1x28x28, softmax cross-entropy, plain SGD."""
    with gn.Graph("cnn") as g:
        x = gn.input("x", (None, 1, 28, 28), "float32")
        y = gn.input("y", (None,), "int64")
        k = gn.param("k", params[0].shape, init=params[0])
        kb = gn.param("kb", params[1].shape, init=params[1])
        w = gn.param("w", params[2].shape, init=params[2])
        b = gn.param("b", params[3].shape, init=params[3])
        c = gn.relu(gn.conv2d(x, k) + gn.reshape(kb, (1, -1, 1, 1)))
        p = gn.max_pool2d(c, 2)
        logits = gn.reshape(p, (-1, params[2].shape[0])) @ w + b
        loss = gn.cross_entropy(gn.softmax(logits), y)
        ps = [k, kb, w, b]
        grads = gn.grad(loss, ps)
        return g, {"loss": loss}, {q: q - lr * d for q, d in zip(ps, grads)}


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
