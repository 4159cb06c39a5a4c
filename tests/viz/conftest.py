"""Shared fixtures: the demo MLP compiled for training (forward, backward, momentum updates)."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.viz.demo import demo_mlp


@pytest.fixture(scope="module")
def mlp_fn() -> gn.Function:
    g, parts = demo_mlp()
    return gn.compile(g, outputs={"loss": parts["loss"]}, updates=parts["updates"])


@pytest.fixture(scope="module")
def feeds() -> dict:
    rng = np.random.default_rng(1)
    return {"x": rng.standard_normal((32, 784)).astype("float32"), "y": rng.integers(0, 10, 32)}
