"""The CNN benchmark's nets, written once for graphnn (gn.nn layers) and once for PyTorch: a VGG-like net on
32x32x3 (conv3x3 32-32-pool-64-64-pool-linear) and a ResNet-18-shaped net (CIFAR stem, basic blocks 64-512)."""

from __future__ import annotations

from typing import Any

import numpy as np

import graphnn as gn

VGG = [(3, 32), (32, 32), "pool", (32, 64), (64, 64), "pool"]
RESNET18 = [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]  # (width, stride)


def vgg_gn(x: gn.Value) -> gn.Value:
    """VGG-like logits: conv3x3 + bias + ReLU layers, 2x2 max pools, then a linear layer."""
    h = x
    for spec in VGG:
        h = gn.max_pool2d(h, 2) if spec == "pool" else gn.relu(gn.nn.Conv2d(spec[0], spec[1], 3, padding=1)(h))
    return gn.nn.Linear(64 * 8 * 8, 10)(gn.reshape(h, (-1, 64 * 8 * 8)))


def resnet18_gn(x: gn.Value) -> gn.Value:
    """ResNet-18 layout on 32x32 input: conv3x3-BN-ReLU stem, eight basic blocks, global average pool, linear."""
    h = gn.relu(gn.nn.BatchNorm2d(64)(gn.nn.Conv2d(3, 64, 3, padding=1, bias=False)(x)))
    c = 64
    for width, s in RESNET18:
        y = gn.relu(gn.nn.BatchNorm2d(width)(gn.nn.Conv2d(c, width, 3, stride=s, padding=1, bias=False)(h)))
        y = gn.nn.BatchNorm2d(width)(gn.nn.Conv2d(width, width, 3, padding=1, bias=False)(y))
        if s != 1 or c != width:
            h = gn.nn.BatchNorm2d(width)(gn.nn.Conv2d(c, width, 1, stride=s, bias=False)(h))
        h, c = gn.relu(y + h), width
    return gn.nn.Linear(512, 10)(gn.mean(h, axis=(2, 3)))


def gn_graph(net: Any, batch_shape: tuple, train: bool, lr: float = 0.01) -> tuple[gn.Graph, dict, dict]:
    """(graph, outputs, updates): a softmax cross-entropy SGD step, or softmax probabilities for inference."""
    with gn.Graph(net.__name__) as g:
        x = gn.input("x", (None, *batch_shape), "float32")
        logits = net(x)
        if not train:
            return g, {"probs": gn.softmax(logits)}, {}
        y = gn.input("y", (None,), "int64")
        loss = gn.cross_entropy(gn.softmax(logits), y)
        ps = list(g.params)
        grads = gn.grad(loss, ps)
        ups = {p: p - lr * d for p, d in zip(ps, grads)}
        ups.update(gn.nn.state_updates(g))
    return g, {"loss": loss}, ups


def torch_net(kind: str) -> Any:
    """The same net as a torch.nn.Module (its own random weights: only the time is compared)."""
    from torch import nn

    if kind == "vgg":
        layers: list = []
        for spec in VGG:
            layers += [nn.MaxPool2d(2)] if spec == "pool" else [nn.Conv2d(spec[0], spec[1], 3, padding=1), nn.ReLU()]
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 8 * 8, 10))

    class Block(nn.Module):
        def __init__(self, c: int, w: int, s: int) -> None:
            super().__init__()
            self.a = nn.Sequential(nn.Conv2d(c, w, 3, s, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                                   nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w))
            self.skip = (nn.Sequential(nn.Conv2d(c, w, 1, s, bias=False), nn.BatchNorm2d(w))
                         if s != 1 or c != w else nn.Identity())

        def forward(self, x: Any) -> Any:
            return (self.a(x) + self.skip(x)).relu()

    blocks, c = [], 64
    for w, s in RESNET18:
        blocks.append(Block(c, w, s))
        c = w
    return nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


def conv_flops(kind: str, batch: int, train: bool) -> float:
    """Multiply-adds x 2 of the convolutions and the linear layer (a training step: 3x, the first conv 2x)."""
    total, first = 0.0, 0.0
    if kind == "vgg":
        hw = 32 * 32
        for spec in VGG:
            if spec == "pool":
                hw //= 4
                continue
            f = 2.0 * batch * hw * spec[0] * spec[1] * 9
            first = first or f
            total += f
        total += 2.0 * batch * 4096 * 10
    else:
        hw, c = 32 * 32, 64
        first = 2.0 * batch * hw * 3 * 64 * 9
        total = first
        for w, s in RESNET18:
            hw //= s * s
            total += 2.0 * batch * hw * (c * w * 9 + w * w * 9 + (c * w if s != 1 or c != w else 0))
            c = w
        total += 2.0 * batch * 512 * 10
    return 3 * total - first if train else total


def data(batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, batch).astype(np.int64)
