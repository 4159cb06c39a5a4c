"""CuPy overrides for graphnn/ir/ops/loss.py: cross_entropy drops its NumPy destination-passing form (built on
`ufunc.reduce` and `take(out=)`) for the plain kernel, which is written against `xp`. Imports graphnn.ir.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..table import Table

KERNELS: Table[Any] = Table("cupy kernel (loss)")
OUT_KERNELS: Table[Any] = Table("cupy out= kernel (loss)")


@OUT_KERNELS.register("cross_entropy")
def _cross_entropy_out(xp: Any, node: Node, env: dict) -> None:
    return None  # the planner runs the plain kernel
