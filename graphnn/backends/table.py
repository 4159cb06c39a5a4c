"""The one per-backend table: op name -> entry, filled by a decorator in each family module.

Every backend table (NumPy kernels, CuPy overrides, ONNX lowerings and importers, destination kernels) is a
`Table`; a family module registers its rows with `@TABLE.register("op", ...)`. Imports nothing from graphnn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E")


class Table(dict, Generic[E]):
    """A named `dict[str, E]` whose rows come from `register`; a name registered twice is a bug, refused at
    import. `make(fn, **meta)` turns a decorated function into the stored entry (default: the function)."""

    def __init__(self, what: str, make: Callable[..., E] | None = None) -> None:
        super().__init__()
        self.what = what
        self._make = make

    def register(self, *names: str, **meta: Any) -> Callable[[F], F]:
        """Decorator: store the function (or `make(fn, **meta)`) under each of `names`."""

        def deco(fn: F) -> F:
            for name in names:
                if name in self:
                    raise RuntimeError(f"{self.what}: {name!r} registered twice")
                self[name] = self._make(fn, **meta) if self._make is not None else fn
            return fn

        return deco

    def merge(self, other: dict[str, E]) -> None:
        """Add every row of `other` (a family's table), refusing duplicates."""
        for name, entry in other.items():
            if name in self:
                raise RuntimeError(f"{self.what}: {name!r} registered twice")
            self[name] = entry

    def __repr__(self) -> str:
        return f"Table({self.what!r}, {len(self)} rows)"
