"""The small classifier and data set the training tests share (3 classes from 4 features, 120 rows).

Test helper: imports graphnn's public API only."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn import nn

RNG = np.random.default_rng(0)
N = 120
XS = RNG.normal(size=(N, 4)).astype(np.float32)
YS = (XS[:, 0] + XS[:, 1] > 0).astype(np.int64) + (XS[:, 2] > 1).astype(np.int64)  # 3 classes
DATA = {"x": XS, "y": YS}


def model(hidden: int = 16, dropout: float = 0.0, batch_norm: bool = False) -> tuple:
    """Graph "clf": Linear, [BatchNorm], ReLU, [Dropout], Linear; returns (graph, net, loss, accuracy)."""
    with gn.Graph("clf") as g:
        x = gn.input("x", (None, 4))
        y = gn.input("y", (None,), "int64")
        layers = [nn.Linear(4, hidden)] + ([nn.BatchNorm1d(hidden)] if batch_norm else []) + [nn.ReLU()]
        layers += ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(hidden, 3)]
        net = nn.Sequential(*layers)
        logits = net(x)
        loss = gn.cross_entropy(gn.softmax(logits), y)
        acc = gn.train.accuracy(logits, y)
    return g, net, loss, acc
