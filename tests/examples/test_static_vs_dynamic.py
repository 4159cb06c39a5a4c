"""examples/static_vs_dynamic.py (reduced): eager and traced runs agree with each other and with NumPy."""

from __future__ import annotations

import importlib.util
import os

import numpy as np

PATH = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "static_vs_dynamic.py")


def test_static_vs_dynamic_reduced(backend: str) -> None:
    spec = importlib.util.spec_from_file_location("example_static_vs_dynamic", PATH)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    res = mod.main(["--steps", "40", "--quiet", "--backend", backend])  # the static step runs on `backend`
    assert res["loss_diff"] < 1e-5 and res["grad_diff"] < 1e-5
    assert 0 < res["doubled"] < 40  # both branches were exercised
    # Step 0 against plain NumPy, written here from the notes' description.
    a = mod.init_arrays(0)
    x, t = mod.batches(1, 64, 0)[0]
    out = np.maximum(x @ a["w1"] + a["b1"], 0) @ a["w2"] + a["b2"]
    out = out * 2 if out.sum() > 0 else out
    assert abs(res["eager_losses"][0] - float(((out - t) ** 2).mean())) < 1e-4
    if importlib.util.find_spec("torch") is None:  # PyTorch is optional: the example then skips its comparison
        assert res["torch_losses"] is None
    else:
        np.testing.assert_allclose(res["torch_losses"][:5], res["eager_losses"][:5], rtol=1e-4)
    assert res["eager_losses"][-1] < res["eager_losses"][0]
