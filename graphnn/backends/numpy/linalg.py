"""NumPy kernel of graphnn/ir/ops/linalg.py (matmul), plain and destination-passing.

Written against `xp`. Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table
from .support import Factory, Kernel

KERNELS: Table[Factory] = Table("numpy kernel (linalg)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (linalg)")


@KERNELS.register("matmul")
def _matmul(xp: Any, node: Node, env: dict) -> Kernel:
    return xp.matmul


@OUT_KERNELS.register("matmul")
def _matmul_out(xp: Any, node: Node, env: dict) -> OutKernel | None:
    if node.inputs[0].ndim < 2 or node.inputs[1].ndim < 2:
        return None  # vector products: let the plain kernel handle NumPy's 1-d rules
    return OutKernel(lambda ins, out: [(xp.matmul, tuple(ins), {"out": out})])
