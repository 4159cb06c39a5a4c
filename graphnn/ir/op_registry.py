"""The explicit op table: every family module lists its ops in `OPS`; this module gathers them.

Imports only the ir op-family modules.
"""

from __future__ import annotations

from .errors import GraphError
from .op import Op

_REGISTRY: dict[str, Op] | None = None
_FAMILY: dict[str, str] = {}


def registry() -> dict[str, Op]:
    """name -> Op for every op graphnn knows (built once from the family modules' OPS lists)."""
    global _REGISTRY
    if _REGISTRY is None:
        from .ops import FAMILIES  # here, not at the top: the family modules import the builder, which imports us

        reg: dict[str, Op] = {}
        for fam in FAMILIES:
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
