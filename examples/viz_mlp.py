"""Draw the demo 3-layer MLP (forward, backward, momentum updates) as a self-contained HTML page.

    python examples/viz_mlp.py            # writes out/mlp.html (open it in any browser)
    graphnn viz examples/viz_mlp.py --out mlp.html   # the same from the command line
"""

from __future__ import annotations

import os

import numpy as np

import graphnn as gn
from graphnn.viz.demo import demo_mlp

g, parts = demo_mlp()
fn = gn.compile(g, outputs={"loss": parts["loss"]}, updates=parts["updates"])

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((128, 784)).astype("float32"), "y": rng.integers(0, 10, 128)}
    print("loss", float(fn(**feeds)["loss"]))
    os.makedirs("out", exist_ok=True)
    print("wrote", gn.viz.save_html(fn, "out/mlp.html", feeds=feeds))
    print(gn.viz.to_dot(fn.graph, hide_backward=True)[:300], "...")
