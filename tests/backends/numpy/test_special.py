"""erf and GELU without SciPy: the NumPy kernels fall back to Python's math.erf/erfc per element, and the graph
gives the same numbers as with SciPy (references: math.erf written in the test)."""

from __future__ import annotations

import builtins
import math

import numpy as np
import pytest

import graphnn as gn


@pytest.fixture
def no_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def fake(name: str, *args: object, **kwargs: object) -> object:
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("no scipy in this test")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erf_and_gelu_without_scipy(no_scipy: None, dtype: str) -> None:
    x = np.linspace(-6.0, 6.0, 41).astype(dtype)
    with gn.Graph("special") as g:
        v = gn.input("x", (41,), dtype)
        e, ge = gn.erf(v), gn.gelu(v)
    out = gn.compile(g, outputs={"erf": e, "gelu": ge})(x=x)
    want_erf = np.array([math.erf(float(t)) for t in x])
    want_gelu = np.array([float(t) * 0.5 * math.erfc(-float(t) / math.sqrt(2.0)) for t in x])
    tol = 1e-6 if dtype == "float32" else 1e-13
    assert out["erf"].dtype == np.dtype(dtype) and out["gelu"].dtype == np.dtype(dtype)
    np.testing.assert_allclose(out["erf"], want_erf, rtol=tol, atol=tol)
    np.testing.assert_allclose(out["gelu"], want_gelu, rtol=tol, atol=tol)
