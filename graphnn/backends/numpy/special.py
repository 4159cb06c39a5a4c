"""erf, erfc and the exact GELU for float32 arrays from a few in-place ufunc passes (NumPy has no erf ufunc, and
scipy.special's computes every element through a double-precision scalar routine):

- erf(x) = x P(x²) / Q(x²) on x clipped to [-4, 4] (float32 erf is ±1 beyond), evaluated in float64 so that the
  absolute error near ±1 stays within an ulp (1 + erf(x/√2) is GELU's CDF as ONNX writes it);
- erfc(z) = exp(-z²) R(z) for z >= 0, R = P/Q fitting erfcx on [0, 10.5] (erfc underflows float32 beyond),
  evaluated in float64 so that z² is exact and the result is rounded once: erfc(-z) = 2 - erfc(z);
- gelu(x) = relu(x) - |x| Φ(-|x|) in float32 (no cancellation in the left tail), Φ(-|x|) = erfc(|x|/√2)/2
  from a second erfcx fit and exp(-x²/2) split so that no float32 rounding of x² reaches the exponent.

The rational coefficients are our own minimax fits (Lawson-reweighted linear least squares on 4000 Chebyshev
nodes against scipy.special's float64 erf/erfcx): fit error 2.5e-8 for erf, 6.3e-9 and 1.6e-7 for erfcx; relative
error of the float32 results < 1e-7 (erf), 7e-8 (erfc), 6e-7 (gelu), checked against math.erf/erfc in
tests/backends/numpy/test_special_float32.py. Cost on 2^19 elements, one thread: erf ~2.8 ms, gelu ~2.6 ms of CPU (the
former Numerical Recipes form: 4.5 and 4.9 ms). Arrays go
through in cache-sized blocks so that the temporaries of a block stay in L2.

Written against `xp`. Imports nothing from graphnn but the optional compiled kernels (backends/compiled).
"""

from __future__ import annotations

import contextlib
from typing import Any

from .. import compiled
from ..compiled.gelu_fit import ERFCX32_P, ERFCX32_Q, GELU_CLIP

# erf(x) / x = P(x²) / Q(x²), lowest power first.
_ERF_P = (1.1283791399415561, 0.19350785310542135, 0.0530960771131316, 0.0038815415148064207,
          0.0002844918860045864, 1.9866378402825954e-06)
_ERF_Q = (1.0, 0.5048244362583355, 0.11533394413358737, 0.015203669133808996, 0.0011850712580812306,
          3.7414780542673035e-05)
ERF_CLIP = 4.0  # float32(erf(4)) == 1
# erfcx(z) = exp(z²) erfc(z) = P(z) / Q(z) on [0, 10.5], lowest power first.
_ERFCX_P = (1.0000000061107455, 1.2416863993289893, 0.7350383712028439, 0.2308567446210563, 0.03314054660463036)
_ERFCX_Q = (1.0, 2.3700661815671045, 2.4093617643233833, 1.3317795069967815, 0.40920775460992814,
            0.05873944531195044)
ERFC_CLIP = 27.3  # exp(-27.3²) is 0 in float64: erfc and x Φ(x) are exactly 0 beyond (the fit ends at 10.5, where
# erfc is already 1.4e-49, below float32's range)
BLOCK = 32768  # elements per block (float64 temporaries of 256 KiB)


def horner(xp: Any, u: Any, coefs: tuple[float, ...], out: Any) -> Any:
    """out = sum coefs[i] u**i, in place (coefficients are Python floats: they take u's dtype)."""
    xp.multiply(u, coefs[-1], out=out)
    out += coefs[-2]
    for c in coefs[-3::-1]:
        out *= u
        out += c
    return out


def _erf_block(xp: Any, x: Any, out: Any) -> None:
    # In float64: float32 rounding in the rational would leave ~6 ulp of absolute error near ±1, which 1 + erf(x)
    # (GELU's CDF, as ONNX writes it) turns into a large relative error in the left tail.
    a = _float64(xp, x)
    xp.clip(a, -ERF_CLIP, ERF_CLIP, out=a)  # nan stays nan
    s = a * a
    p = horner(xp, s, _ERF_P, xp.empty_like(s))
    p /= horner(xp, s, _ERF_Q, xp.empty_like(s))
    p *= a
    xp.copyto(out, p, casting="same_kind")


def _erfc_nonneg64(xp: Any, z: Any, scale: float = 1.0) -> Any:
    """scale * erfc(z) in float64 for a float64 z >= 0 (or nan), overwriting z."""
    xp.clip(z, 0.0, ERFC_CLIP, out=z)  # clip with both bounds: NumPy's minimum with a scalar is ~4x slower
    p = horner(xp, z, tuple(c * scale for c in _ERFCX_P), xp.empty_like(z))
    p /= horner(xp, z, _ERFCX_Q, xp.empty_like(z))
    z *= z
    xp.negative(z, out=z)
    xp.exp(z, out=z)  # z is a float32 value, so z² is exact in float64
    p *= z
    return p


def _float64(xp: Any, x: Any) -> Any:
    wide = xp.empty(x.shape, xp.float64)
    xp.copyto(wide, x)
    return wide


def _erfc_block(xp: Any, x: Any, out: Any) -> None:
    z = xp.abs(_float64(xp, x))
    r = _erfc_nonneg64(xp, z)
    xp.copyto(out, xp.where(x < 0, 2.0 - r, r), casting="same_kind")  # erfc(-z) = 2 - erfc(z)


_INV_SQRT2 = 0.7071067811865476


def _gelu_block(xp: Any, x: Any, out: Any) -> None:
    """gelu(x) = relu(x) - |x| Φ(-|x|) in float32: no cancellation in the left tail (the relu term is 0 there);
    Φ(-|x|) = exp(-x²/2) erfcx(|x|/√2) / 2, with x² = h² + (|x| - h)(|x| + h) for h = |x| cut to 12 significant
    bits, so h² is exact: a float32 x² would carry a relative error of ~x²·6e-8 into exp (1e-5 at x = -13)."""
    a = xp.abs(x)
    # also takes inf to a finite value (|x| Φ(-|x|) is 0 there, not inf · 0); clip with both bounds, not minimum
    # or maximum with a scalar: NumPy runs those ~4x slower (60 vs 200-250 µs on 2^19 float32 elements)
    xp.clip(a, 0.0, GELU_CLIP, out=a)
    z = a * _INV_SQRT2
    p = horner(xp, z, tuple(c * 0.5 for c in ERFCX32_P), xp.empty_like(z))
    p /= horner(xp, z, ERFCX32_Q, xp.empty_like(z))
    p *= a
    h = z.view(xp.uint32)  # z's buffer is free now
    xp.bitwise_and(a.view(xp.uint32), xp.uint32(0xFFFFF000), out=h)
    h = z
    d = a - h
    a += h
    d *= a
    d *= -0.5
    xp.exp(d, out=d)
    p *= d
    h *= h
    h *= -0.5
    xp.exp(h, out=h)
    p *= h
    xp.clip(x, 0.0, float("inf"), out=out)  # relu, nan kept
    out -= p


def quiet(xp: Any, **kw: str) -> Any:
    """xp.errstate(**kw) where the array module has one (NumPy), else a context that does nothing."""
    errstate = getattr(xp, "errstate", None)
    return errstate(**kw) if errstate is not None else contextlib.nullcontext()


def _blocked(xp: Any, fn: Any, x: Any) -> Any:
    out = xp.empty(x.shape, x.dtype)
    flat, dst = xp.ascontiguousarray(x).reshape(-1), out.reshape(-1)
    # A result below float32's range rounds to a subnormal or 0, as the function's value does: not an error.
    with quiet(xp, under="ignore"):
        for i in range(0, flat.size, BLOCK):
            fn(xp, flat[i:i + BLOCK], dst[i:i + BLOCK])
    return out


def erf32(xp: Any, x: Any) -> Any:
    """erf of a float32 array: the odd rational fit, in float32."""
    return _blocked(xp, _erf_block, x)


def erfc32(xp: Any, x: Any) -> Any:
    """erfc of a float32 array: exp(-x²) times the erfcx fit on |x| in float64, reflected where x < 0."""
    return _blocked(xp, _erfc_block, x)


def gelu32(xp: Any, x: Any) -> Any:
    """The exact GELU x Φ(x) of a float32 array, Φ from the erfc fit (no cancellation in the left tail); one
    compiled pass (backends/compiled) when numba is installed and not switched off (GRAPHNN_NO_NUMBA=1)."""
    fast = compiled.gelu32(xp, x)
    return fast if fast is not None else _blocked(xp, _gelu_block, x)
