"""The benchmark cases (model, batch, train or infer, FLOP count) and graphnn's runner for them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .models import cnn_graph, init_cnn, init_mlp, mlp_graph

BIG, SMALL = [784, 512, 512, 10], [64, 32, 10]


@dataclass
class Case:
    """One measurement: `kind` mlp or cnn, its parameters and a fixed batch of data."""

    name: str
    kind: str
    train: bool
    batch: int
    sizes: list[int]
    lr: float = 0.01
    params: list[np.ndarray] | None = None
    x: np.ndarray | None = None
    y: np.ndarray | None = None

    def __post_init__(self) -> None:
        rng = np.random.default_rng(1)
        if self.kind == "mlp":
            self.params = init_mlp(self.sizes)
            self.x = rng.standard_normal((self.batch, self.sizes[0])).astype(np.float32)
            classes = self.sizes[-1]
        else:
            self.params = init_cnn()
            self.x = rng.standard_normal((self.batch, 1, 28, 28)).astype(np.float32)
            classes = 10
        self.y = rng.integers(0, classes, self.batch).astype(np.int64) if self.train else None

    @property
    def flops(self) -> float:
        """Multiply-adds x 2 of the GEMMs/convolutions (elementwise work is not counted)."""
        B = self.batch
        if self.kind == "mlp":
            fwd = sum(2 * B * i * o for i, o in zip(self.sizes[:-1], self.sizes[1:]))
            if not self.train:
                return fwd
            dx = sum(2 * B * i * o for i, o in zip(self.sizes[1:-1], self.sizes[2:]))
            return 2 * fwd + dx
        conv = 2 * B * 8 * 26 * 26 * 9
        lin = 2 * B * 8 * 13 * 13 * 10
        return (2 * conv + 3 * lin) if self.train else conv + lin


CASES = [
    Case("train MLP 784-512-512-10, batch 128", "mlp", True, 128, BIG),
    Case("train MLP 784-512-512-10, batch 1024", "mlp", True, 1024, BIG),
    Case("train MLP 64-32-10, batch 32", "mlp", True, 32, SMALL),
    Case("train CNN conv3x3(8)+pool+linear, batch 32", "cnn", True, 32, []),
    Case("infer MLP 784-512-512-10, batch 1", "mlp", False, 1, BIG),
    Case("infer MLP 784-512-512-10, batch 32", "mlp", False, 32, BIG),
    Case("infer MLP 784-512-512-10, batch 1024", "mlp", False, 1024, BIG),
]


def graphnn_runner(case: Case) -> tuple[Any, float, Any, dict]:
    """(step, build -> first result seconds, the compiled function, feeds)."""
    import graphnn as gn

    t0 = time.perf_counter()
    if case.kind == "mlp":
        g, outs, ups = mlp_graph(case.sizes, case.params, case.lr, case.train)
    else:
        g, outs, ups = cnn_graph(case.params, case.lr)
    fn = gn.compile(g, outs, ups or None)
    feeds = {"x": case.x} if case.y is None else {"x": case.x, "y": case.y}
    fn(**feeds)
    first = time.perf_counter() - t0
    x, y = case.x, case.y
    step = (lambda: fn(x=x)) if y is None else (lambda: fn(x=x, y=y))
    return step, first, fn, feeds
