"""Static tensor types: a dtype and a shape whose dims are ints or symbolic names.

Imports nothing else from graphnn.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping
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
    """A dim declared None (a fresh `?k`), never a product."""
    return type(d) is str and d.startswith("?")


class DimProduct(str):
    """A product of symbolic dims and an int factor (`B*T`, `?0*12`): what reshape's -1 and ONNX shape
    arithmetic give. It is a str spelled canonically (names sorted, the factor last), so it hashes, compares,
    prints and serializes like any symbolic dim, and `parse_dim` reads it back."""

    factor: int
    symbols: tuple[str, ...]

    def __new__(cls, factor: int, symbols: tuple[str, ...]) -> DimProduct:
        syms = tuple(sorted(symbols))
        self = super().__new__(cls, "*".join(syms + ((str(factor),) if factor != 1 else ())))
        self.factor, self.symbols = factor, syms
        return self

    def __reduce__(self) -> tuple:
        return (DimProduct, (self.factor, self.symbols))


def dim_factors(d: Dim) -> tuple[int, Counter]:
    """`d` as (int factor, multiset of symbol names)."""
    if isinstance(d, DimProduct):
        return d.factor, Counter(d.symbols)
    if isinstance(d, str):
        return 1, Counter({d: 1})
    return int(d), Counter()


def _from_factors(c: int, syms: Counter) -> Dim:
    names = tuple(sorted(syms.elements()))
    if not names or c == 0:
        return c
    if c == 1 and len(names) == 1:
        return names[0]
    return DimProduct(c, names)


def dim_mul(*dims: Dim) -> Dim:
    """The product of dims: an int when all are ints, else a symbol or a `DimProduct`."""
    c, syms = 1, Counter()
    for d in dims:
        k, s = dim_factors(d)
        c *= k
        syms.update(s)
    return _from_factors(c, syms)


def dim_div(a: Dim, b: Dim) -> Dim | None:
    """The exact quotient a / b, or None when it is not a dim (b's symbols not all in a, or ints not dividing)."""
    ca, sa = dim_factors(a)
    cb, sb = dim_factors(b)
    if cb == 0 or ca % cb or sb - sa:
        return None
    return _from_factors(ca // cb, sa - sb)


def dim_symbols(d: Dim) -> tuple[str, ...]:
    """The symbol names a dim depends on (none for an int)."""
    if isinstance(d, DimProduct):
        return d.symbols
    return (d,) if isinstance(d, str) else ()


def dim_value(d: Dim, env: Mapping[str, int]) -> int:
    """The size of `d` once its symbols are bound in `env`."""
    if isinstance(d, int):
        return d
    if isinstance(d, DimProduct):
        got = env.get(d)  # a binding may hold the product itself (sizes read off arrays)
        return got if got is not None else d.factor * math.prod(env[s] for s in d.symbols)
    return env[d]


def parse_dim(d: object) -> Dim:
    """A dim read back from text or JSON: `B*12` becomes the product; ints and names stay as they are."""
    if type(d) is str and "*" in d:
        parts = d.split("*")
        return dim_mul(*(int(p) if p.lstrip("-").isdigit() else p for p in parts))
    return d  # type: ignore[return-value]


class DimEnv(dict):
    """A binding of symbolic dims to sizes that also answers for products of bound dims."""

    def __missing__(self, key: str) -> int:
        if isinstance(key, DimProduct):
            return key.factor * math.prod(self[s] for s in key.symbols)
        raise KeyError(key)


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
        if any(type(d) is str and "*" in d for d in self.shape):  # a product spelled as text (JSON, ONNX)
            object.__setattr__(self, "shape", tuple(parse_dim(d) for d in self.shape))
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
        return tuple(dim_value(d, env) for d in self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "shape": list(self.shape)}

    @staticmethod
    def from_json(d: dict) -> "TensorType":
        return TensorType(d["dtype"], tuple(d["shape"]))


def format_shape(shape: tuple[Dim, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
