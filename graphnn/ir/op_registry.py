"""The explicit op table: every family module lists its ops in `OPS`; this module gathers them.

Imports nothing from ir/ops (the families are handed over by graphnn/ir/__init__.py).
"""

from __future__ import annotations

from .errors import GraphError
from .op import Op

_REGISTRY: dict[str, Op] | None = None
_FAMILY: dict[str, str] = {}
# The family modules (ir/ops' FAMILIES), handed over by graphnn/ir/__init__.py: the families import the builder,
# which looks ops up here, so this module cannot import them.
_FAMILIES: list = []


def register_families(families: tuple) -> None:
    """Take the op family modules the registry is built from (graphnn/ir/__init__.py calls it once)."""
    global _REGISTRY
    _FAMILIES[:] = families
    _REGISTRY = None


def registry() -> dict[str, Op]:
    """name -> Op for every op graphnn knows (built once from the family modules' OPS lists)."""
    global _REGISTRY
    if _REGISTRY is None:
        if not _FAMILIES:
            raise GraphError("the op families are not registered yet (graphnn.ir registers them on import)")
        reg: dict[str, Op] = {}
        for fam in _FAMILIES:
            for op in fam.OPS:
                if op.name in reg:
                    raise GraphError(f"op {op.name!r} registered twice")
                reg[op.name] = op
                _FAMILY[op.name] = fam.__name__.rsplit(".", 1)[-1]
        _REGISTRY = reg
    return _REGISTRY


def family_of(name: str) -> str:
    """The op family (the file name under graphnn/ir/ops, and of its kernels in each backend) that defines `name`."""
    registry()
    return _FAMILY[name]


def get_op(name: str) -> Op:
    try:
        return registry()[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}") from None
