"""Draw the demo 3-layer MLP (forward, backward, momentum updates) as a self-contained HTML page.

    python examples/viz_mlp.py            # writes out/mlp.html (open it in any browser)
    python examples/viz_mlp.py --png docs/img/graph.png   # and a screenshot (needs chromium)
    graphnn viz examples/viz_mlp.py --out mlp.html   # the same from the command line
"""

from __future__ import annotations

import os
import sys

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
    prof = fn.profile(feeds, repeat=3)
    print(prof.table(5))
    gn.viz.save_html(fn, "out/mlp.html", feeds=feeds, profile=prof)
    if "--png" in sys.argv:
        from graphnn.viz.browser import screenshot_html

        png = sys.argv[sys.argv.index("--png") + 1]
        # focus the loss, pin its detail panel, colour the gradient flow
        screenshot_html("out/mlp.html", png, 1600, 1000, js="""
            var s = document.getElementById('search'); s.value = 'softmax_cross'; s.dispatchEvent(new Event('input'));
            s.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));
            document.getElementById('t-flow').click();""")
        print("wrote", png)
