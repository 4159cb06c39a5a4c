"""Static tensor types: a dtype and a shape whose dims are ints or symbolic names.

Imports nothing else from graphnn.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Union

import numpy as np

Dim = Union[int, str]

DTYPES = ("float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool")
FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})
INT_DTYPES = frozenset({"int8", "int32", "int64", "uint8"})

_fresh_counter = itertools.count()


def fresh_dim() -> str:
    """A new anonymous symbolic dim; anonymous dims unify with any dim they must equal."""
    return f"?{next(_fresh_counter)}"


def is_anonymous(d: Dim) -> bool:
    return isinstance(d, str) and d.startswith("?")


def normalize_dtype(dtype: object) -> str:
    """Accept 'float32', np.float32, np.dtype('float32'); return the canonical name."""
    try:
        name = np.dtype(dtype).name  # type: ignore[arg-type]
    except TypeError as e:
        raise TypeError(f"not a dtype: {dtype!r}") from e
    if name not in DTYPES:
        raise TypeError(f"unsupported dtype {name!r}; graphnn supports {', '.join(DTYPES)}")
    return name


@dataclass(frozen=True)
class TensorType:
    """dtype + shape; a dim is an int or a symbolic name bound when the graph is called."""

    dtype: str
    shape: tuple[Dim, ...]

    def __post_init__(self) -> None:
        for d in self.shape:
            if isinstance(d, bool) or not isinstance(d, (int, str)):
                raise TypeError(f"bad dim {d!r} in shape {self.shape!r}")
            if isinstance(d, int) and d < 0:
                raise TypeError(f"negative dim {d} in shape {self.shape!r}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def with_shape(self, shape: tuple[Dim, ...]) -> "TensorType":
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype: str) -> "TensorType":
        return TensorType(dtype, self.shape)

    def concrete(self, env: dict[str, int]) -> tuple[int, ...]:
        """The shape with every symbolic dim looked up in `env`."""
        return tuple(d if isinstance(d, int) else env[d] for d in self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "shape": list(self.shape)}

    @staticmethod
    def from_json(d: dict) -> "TensorType":
        return TensorType(d["dtype"], tuple(d["shape"]))


def format_shape(shape: tuple[Dim, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
