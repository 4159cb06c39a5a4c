"""Test-suite settings: hypothesis runs derandomized (a fixed example sequence), so CI is reproducible;
set HYPOTHESIS_PROFILE=explore to draw fresh examples locally."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from graphnn.backends import compiled

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=["numba", "numpy"])
def kernel_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on each kernel path: the compiled one (numba, the `fast` extra; skips without numba) and the
    plain NumPy one (GRAPHNN_NO_NUMBA=1)."""
    if request.param == "numba":
        monkeypatch.delenv("GRAPHNN_NO_NUMBA", raising=False)
        if compiled.kernels("gelu") is None or compiled.kernels("norm") is None:
            pytest.skip("numba is not installed (extra `fast`)")
    else:
        monkeypatch.setenv("GRAPHNN_NO_NUMBA", "1")
        assert compiled.kernels("gelu") is None and compiled.kernels("norm") is None
    return request.param
