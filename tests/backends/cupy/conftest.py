"""Fixtures: `standin` makes backend="cupy" run on the NumPy-backed stand-in (CPU CI); `backend` is the
backend-parametrized fixture ["numpy", "cupy"] whose cupy case skips with a reason where CuPy or a GPU is absent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.cupy import backend as cupy_backend
from tests.backends.cupy.standin import cupy as standin_cupy


def real_cupy() -> tuple[Any, str]:
    """(cupy, "") where CuPy and a GPU work, else (None, why not)."""
    try:
        return cupy_backend.load_cupy(), ""
    except gn.BackendError as e:
        return None, str(e)


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """backend="cupy" builds on the stand-in for this test; yields the stand-in module (STATS reset)."""
    monkeypatch.setattr(cupy_backend, "load_cupy", lambda: standin_cupy)
    st = standin_cupy.STATS
    st.h2d = st.d2h = st.h2d_bytes = st.d2h_bytes = st.kernels = st.calls = 0
    yield standin_cupy


@pytest.fixture(params=["numpy", "cupy"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every available backend by name; cupy skips with the reason where it cannot run."""
    if request.param == "cupy":
        cp, why = real_cupy()
        if cp is None:
            pytest.skip(f"no CuPy GPU backend here: {why}")
    return request.param


def to_host(a: Any) -> np.ndarray:
    """A result as a NumPy array, from either backend (device arrays via .get())."""
    return a.get() if hasattr(a, "get") else np.asarray(a)
