"""erf, gelu and silu as a user meets them: extreme inputs stay finite and exact, dtypes are kept, a bad mode
is refused at the user's line, and the values and gradients match PyTorch's when it is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphnn as gn


def _gelu_tanh(v: float) -> float:
    """0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)): the second form keeps the left tail in float64."""
    u = math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)
    return v / (1 + math.exp(-2 * u)) if u > -300 else 0.0


def _run(build, x: np.ndarray) -> np.ndarray:
    with gn.Graph("a") as g:
        v = gn.input("x", x.shape, x.dtype.name)
        y = build(v)
    return gn.compile(g, outputs={"y": y})(x=x)["y"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_inputs_are_finite_and_keep_the_dtype(dtype: str) -> None:
    x = np.array([-1e4, -40.0, -6.0, -1e-8, 0.0, 1e-8, 6.0, 40.0, 1e4], dtype)
    erf_ref = np.array([math.erf(float(v)) for v in x])
    cases = {
        "erf": (gn.erf, erf_ref),
        "gelu": (gn.gelu, np.array([float(v) * 0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x])),
        "silu": (gn.silu, np.array([float(v) / (1 + math.exp(-float(v))) if v > -700 else 0.0 for v in x])),
        "gelu-tanh": (lambda v: gn.gelu(v, approximate="tanh"), np.array([_gelu_tanh(float(v)) for v in x])),
    }
    with np.errstate(all="raise"):  # no overflow on the way: -1e4 must not make exp(1e4)
        for name, (build, want) in cases.items():
            got = _run(build, x)
            assert got.dtype == x.dtype and np.isfinite(got).all(), name
            np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-14, atol=1e-30, err_msg=name)


def test_gelu_refuses_an_unknown_mode_and_float_only() -> None:
    with gn.Graph("a"):
        x = gn.input("x", (3,))
        with pytest.raises(gn.GraphError, match=r"approximate must be 'none' or 'tanh'(.|\n)*test_activations.py"):
            gn.gelu(x, approximate="erf")
        with pytest.raises(gn.DTypeError, match="floating point"):
            gn.silu(gn.input("i", (3,), "int64"))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_values_and_gradients_match_pytorch(approximate: str) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is the independent reference here (pip install torch==2.13.0)")
    x = np.random.default_rng(0).standard_normal((4, 5)) * 3
    with gn.Graph("a") as g:
        v = gn.input("x", x.shape, "float64")
        ys = [gn.erf(v), gn.gelu(v, approximate=approximate), gn.silu(v)]
        loss = gn.sum(ys[0] * 1.0 + ys[1] * 2.0 + ys[2] * 3.0)
        (gx,) = gn.grad(loss, [v])
    out = gn.compile(g, outputs={"y0": ys[0], "y1": ys[1], "y2": ys[2], "gx": gx})(x=x)
    t = torch.tensor(x, requires_grad=True)
    ty = [torch.erf(t), torch.nn.functional.gelu(t, approximate=approximate), torch.nn.functional.silu(t)]
    (ty[0] + 2 * ty[1] + 3 * ty[2]).sum().backward()
    for i in range(3):
        np.testing.assert_allclose(out[f"y{i}"], ty[i].detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out["gx"], t.grad.numpy(), rtol=1e-12, atol=1e-14)
