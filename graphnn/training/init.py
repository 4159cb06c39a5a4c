"""`gn.init`: parameter initializers. Each is a callable `(shape, dtype) -> np.ndarray` with a `.spec` string
that `gn.param` records. A user-level library: may import anything.

Randomness: an initializer made with `seed=n` owns a generator seeded with n (it advances with every call, so
one initializer used for two layers gives them different values, and rebuilding the model reproduces both);
without a seed it draws from the module generator, which starts at seed 0 and is reset by `gn.init.seed(n)`,
so a script is reproducible by default. Fans follow graphnn's layouts: Linear weights are (in, out),
Conv2d weights (out, in, kH, kW).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_global_rng = np.random.default_rng(0)


def seed(n: int) -> None:
    """Reset the module generator that unseeded initializers draw from."""
    global _global_rng
    _global_rng = np.random.default_rng(n)


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out): (in, out) for a Linear weight, (I*kH*kW, O*kH*kW) for a conv weight (O, I, kH, kW)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    """A named initializer: call it with (shape, dtype); `spec` describes it (stored with the parameter)."""

    def __init__(self, spec: str, draw: Callable[[np.random.Generator | None, tuple[int, ...]], np.ndarray],
                 seed: int | None = None, random: bool = True) -> None:
        self.spec = spec
        self._draw = draw
        self.random = random
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __call__(self, shape: Sequence[int], dtype: Any = "float32") -> np.ndarray:
        shape = tuple(int(d) for d in shape)
        dt = np.dtype(dtype)
        if self.random and dt.kind != "f":
            raise TypeError(f"initializer {self.spec} draws floats; parameter dtype is {dt.name}")
        rng = self._rng if self._rng is not None else _global_rng
        return np.asarray(self._draw(rng, shape)).astype(dt, copy=False)

    def __repr__(self) -> str:
        return f"gn.init.{self.spec}"


def _spec(name: str, seed: int | None, **kw: Any) -> str:
    args = [f"{k}={v!r}" for k, v in kw.items()] + ([f"seed={seed}"] if seed is not None else [])
    return f"{name}({', '.join(args)})"


def zeros() -> Initializer:
    """All zeros."""
    return Initializer("zeros()", lambda rng, s: np.zeros(s), random=False)


def ones() -> Initializer:
    """All ones."""
    return Initializer("ones()", lambda rng, s: np.ones(s), random=False)


def constant(value: float) -> Initializer:
    """Every element `value`."""
    return Initializer(_spec("constant", None, value=value), lambda rng, s: np.full(s, value), random=False)


def normal(mean: float = 0.0, std: float = 0.01, seed: int | None = None) -> Initializer:
    """N(mean, std^2)."""
    return Initializer(_spec("normal", seed, mean=mean, std=std), lambda rng, s: rng.normal(mean, std, s), seed)


def uniform(low: float = -0.05, high: float = 0.05, seed: int | None = None) -> Initializer:
    """U[low, high)."""
    return Initializer(_spec("uniform", seed, low=low, high=high), lambda rng, s: rng.uniform(low, high, s), seed)


def xavier_uniform(gain: float = 1.0, seed: int | None = None) -> Initializer:
    """Glorot: U[-a, a] with a = gain * sqrt(6 / (fan_in + fan_out)), so Var = gain^2 * 2 / (fan_in + fan_out)."""
    def draw(rng: np.random.Generator, s: tuple[int, ...]) -> np.ndarray:
        fi, fo = fans(s)
        a = gain * math.sqrt(6.0 / (fi + fo))
        return rng.uniform(-a, a, s)

    return Initializer(_spec("xavier_uniform", seed, gain=gain), draw, seed)


def xavier_normal(gain: float = 1.0, seed: int | None = None) -> Initializer:
    """Glorot: N(0, gain^2 * 2 / (fan_in + fan_out))."""
    def draw(rng: np.random.Generator, s: tuple[int, ...]) -> np.ndarray:
        fi, fo = fans(s)
        return rng.normal(0.0, gain * math.sqrt(2.0 / (fi + fo)), s)

    return Initializer(_spec("xavier_normal", seed, gain=gain), draw, seed)


def _he_std(s: tuple[int, ...], mode: str, a: float) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fi, fo = fans(s)
    gain = math.sqrt(2.0 / (1.0 + a * a))  # ReLU (a=0) or leaky ReLU with negative slope a
    return gain / math.sqrt(fi if mode == "fan_in" else fo)


def he_normal(mode: str = "fan_in", a: float = 0.0, seed: int | None = None) -> Initializer:
    """Kaiming: N(0, 2 / ((1 + a^2) * fan)), fan = fan_in (default) or fan_out."""
    _he_std((1, 1), mode, a)  # validate mode now, not at the first call
    return Initializer(_spec("he_normal", seed, mode=mode, a=a),
                       lambda rng, s: rng.normal(0.0, _he_std(s, mode, a), s), seed)


def he_uniform(mode: str = "fan_in", a: float = 0.0, seed: int | None = None) -> Initializer:
    """Kaiming: U[-b, b] with b = sqrt(3) * std, std^2 = 2 / ((1 + a^2) * fan)."""
    _he_std((1, 1), mode, a)

    def draw(rng: np.random.Generator, s: tuple[int, ...]) -> np.ndarray:
        b = math.sqrt(3.0) * _he_std(s, mode, a)
        return rng.uniform(-b, b, s)

    return Initializer(_spec("he_uniform", seed, mode=mode, a=a), draw, seed)


glorot_uniform = xavier_uniform
glorot_normal = xavier_normal
kaiming_uniform = he_uniform
kaiming_normal = he_normal

_BY_NAME: dict[str, Callable[..., Initializer]] = {
    "zeros": zeros, "ones": ones, "normal": normal, "uniform": uniform, "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal, "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
    "he_normal": he_normal, "he_uniform": he_uniform, "kaiming_normal": kaiming_normal,
    "kaiming_uniform": kaiming_uniform,
}


def get(init: Any) -> Any:
    """An initializer from a name ("he_normal"), an initializer, an array or a scalar (returned as is)."""
    if isinstance(init, str):
        try:
            return _BY_NAME[init]()
        except KeyError:
            raise ValueError(f"unknown initializer {init!r}; known: {', '.join(sorted(_BY_NAME))}") from None
    return init


__all__ = ["Initializer", "constant", "fans", "get", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
           "kaiming_normal", "kaiming_uniform", "normal", "ones", "seed", "uniform", "xavier_normal", "xavier_uniform",
           "zeros"]
