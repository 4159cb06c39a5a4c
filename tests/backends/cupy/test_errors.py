"""Without CuPy or a GPU: `import graphnn` works, backend="cupy" is a clear gn.BackendError naming the fix."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

import graphnn as gn


def _graph() -> tuple[gn.Graph, gn.Value]:
    with gn.Graph() as g:
        x = gn.input("x", (2,), "float32")
        y = gn.exp(x)
    return g, y


def test_import_graphnn_does_not_import_cupy() -> None:
    code = "import sys, graphnn; assert 'cupy' not in sys.modules, 'cupy imported'; print('ok')"
    root = pathlib.Path(__file__).resolve().parents[3]  # the worktree whose graphnn is under test
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60,
                       check=False)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_missing_cupy_is_a_backend_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    g, y = _graph()
    with pytest.raises(gn.BackendError, match=r"needs CuPy: pip install 'graphnn\[gpu\]'"):
        gn.compile(g, outputs={"y": y}, backend="cupy")


def test_cupy_without_a_gpu_is_a_backend_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_device() -> int:
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))  # type: ignore
    monkeypatch.setitem(sys.modules, "cupy", fake)
    g, y = _graph()
    with pytest.raises(gn.BackendError, match=r"no usable GPU.*pip install 'graphnn\[gpu\]'"):
        gn.compile(g, outputs={"y": y}, backend="cupy")
    fake.cuda.runtime.getDeviceCount = lambda: 0  # type: ignore[attr-defined]
    with pytest.raises(gn.BackendError, match="reports no GPU"):
        gn.compile(g, outputs={"y": y}, backend="cupy")


def test_host_array_mixed_into_device_math_is_caught_by_the_standin() -> None:
    from tests.backends.cupy.standin import cupy

    d = cupy.asarray(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="NumPy array"):
        d + np.ones(3, np.float32)
    with pytest.raises(TypeError, match="NumPy array"):
        cupy.maximum(d, np.zeros(3, np.float32))
    with pytest.raises(AttributeError):
        cupy.errstate  # noqa: B018 - CuPy has no errstate; kernels must not rely on it
    assert not hasattr(cupy.add, "reduce")  # nor ufunc methods
