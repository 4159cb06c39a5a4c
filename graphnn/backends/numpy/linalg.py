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


def stacked_by_matrix(xp: Any) -> Any:
    """matmul(a, b, out=) for a (..., m, k) and a matrix b (k, n): one (rows, k) @ (k, n) product over all leading
    dims when a and out are C-contiguous (NumPy would loop over them with one small product each; ~10-30% slower
    at (32, 64, 64) @ (64, 256) on one thread). A strided a (a transposed sequence, (T, B, F) of a batch-first
    input) is copied first: the copy is one pass, the loop of small products costs 1.6x the 2-D one at
    (32, 32, 64) @ (64, 512)."""

    def mm(a: Any, b: Any, out: Any) -> Any:
        if out.flags.c_contiguous:
            a = xp.ascontiguousarray(a)
            return xp.matmul(a.reshape(-1, a.shape[-1]), b, out=out.reshape(-1, out.shape[-1]))
        return xp.matmul(a, b, out=out)

    return mm


@OUT_KERNELS.register("matmul")
def _matmul_out(xp: Any, node: Node, env: dict) -> OutKernel | None:
    if node.inputs[0].ndim < 2 or node.inputs[1].ndim < 2:
        return None  # vector products: let the plain kernel handle NumPy's 1-d rules
    if node.inputs[0].ndim > 2 and node.inputs[1].ndim == 2:
        mm = stacked_by_matrix(xp)
        return OutKernel(lambda ins, out: [(mm, (*ins, out), {})])
    return OutKernel(lambda ins, out: [(xp.matmul, tuple(ins), {"out": out})])
