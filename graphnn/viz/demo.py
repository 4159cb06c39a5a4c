"""The demo model drawn in the README and used by the viz tests: a 3-layer MLP with softmax cross-entropy,
its gradient, and SGD-with-momentum updates written out with graph ops.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ir  # noqa: F401  (package import keeps the user-level layering explicit)
from ..ir.builder import input, param, state
from ..ir.graph import Graph
from ..ir.ops.elementwise import relu
from ..ir.ops.loss import cross_entropy
from ..ir.ops.nn import softmax
from ..passes.autodiff import grad


def demo_mlp(sizes: tuple[int, ...] = (784, 256, 128, 10), lr: float = 0.05, momentum: float = 0.9,
             seed: int = 0) -> tuple[Graph, dict[str, Any]]:
    """Build the demo graph; returns it and {"loss", "logits", "updates"} for gn.compile."""
    rng = np.random.default_rng(seed)
    with Graph("mlp") as g:
        x = input("x", (None, sizes[0]), "float32")
        y = input("y", (None,), "int64")
        h = x
        ws = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            with g.name_scope(f"layer{i + 1}"):
                w = param(f"w{i + 1}", (a, b), init=(rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype("float32"))
                bias = param(f"b{i + 1}", (b,), init=np.zeros(b, "float32"))
                h = h @ w + bias
                if i < len(sizes) - 2:
                    h = relu(h)
                ws += [w, bias]
        logits = h
        with g.name_scope("loss"):
            loss = cross_entropy(softmax(logits), y)
        g.output("loss", loss)
        grads = grad(loss, ws)
        updates = {}
        with g.name_scope("sgd"):
            for p, gp in zip(ws, grads):
                v = state(f"{p.name}_velocity", p.shape, init=0.0)
                nv = momentum * v + gp
                updates[v.name] = nv
                updates[p.name] = p - lr * nv
    return g, {"loss": loss, "logits": logits, "updates": updates}
