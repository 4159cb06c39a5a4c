"""The `backend` fixture for the examples: every example runs on "numpy", on "cupy" through the CPU stand-in
(tests/backends/cupy/standin.py: the CuPy backend's own code, planning and transfers, on any machine), and on
real "cupy" where CuPy and a GPU work (skipped with the reason elsewhere)."""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import pytest

import graphnn as gn
from graphnn.backends.cupy import backend as cupy_backend
from tests.backends.cupy.standin import cupy as standin_cupy

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
BACKENDS = ["numpy", "cupy-standin", "cupy"]


def load_example(name: str) -> ModuleType:
    """examples/<name>.py as a module (its main(argv) is then called in-process)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The value for an example's --backend; "cupy-standin" swaps the stand-in in for CuPy and checks, after
    the test, that the example really ran kernels through it."""
    if request.param == "cupy-standin":
        monkeypatch.setattr(cupy_backend, "load_cupy", lambda: standin_cupy)
        before = standin_cupy.STATS.kernels + standin_cupy.STATS.calls
        yield "cupy"
        assert standin_cupy.STATS.kernels + standin_cupy.STATS.calls > before, "nothing ran on the cupy backend"
        return
    if request.param == "cupy":
        try:
            cupy_backend.load_cupy()
        except gn.BackendError as e:
            pytest.skip(f"no CuPy GPU backend here: {e}")
    yield request.param
