"""CuPy overrides for graphnn/ir/ops/fused_elementwise.py: the whole fused body as one generated
`ElementwiseKernel` (cuda_source.py). Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table
from .cuda_source import compiled, fused_source

KERNELS: Table[Any] = Table("cupy kernel (fused_elementwise)")
OUT_KERNELS: Table[Any] = Table("cupy out= kernel (fused_elementwise)")


@KERNELS.register("fused_elementwise")
def _fused_plain(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    return compiled(xp, fused_source(node))


@OUT_KERNELS.register("fused_elementwise")
def _fused_out(xp: Any, node: Node, env: dict) -> OutKernel:
    k = compiled(xp, fused_source(node))
    # Each thread reads its own element of every input before writing it, so out may alias an input.
    return OutKernel(lambda ins, out: [(k, (*ins, out), {})], inplace=True)
