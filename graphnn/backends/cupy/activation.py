"""CuPy overrides for graphnn/ir/ops/activation.py: hardsigmoid, hardswish, hardtanh, elu/selu, mish and softsign,
each one generated `ElementwiseKernel` from its Op.c_expr (cuda_source.py) instead of the NumPy kernel's several
passes. Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table
from .cuda_source import compiled, unary_source

KERNELS: Table[Any] = Table("cupy kernel (activation)")
OUT_KERNELS: Table[Any] = Table("cupy out= kernel (activation)")
_OPS = ("hardsigmoid", "hardswish", "hardtanh", "elu", "mish", "softsign")


@KERNELS.register(*_OPS)
def _unary(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    return compiled(xp, unary_source(node.op, node.outputs[0].dtype, dict(node.attrs)))


@OUT_KERNELS.register(*_OPS)
def _unary_out(xp: Any, node: Node, env: dict) -> OutKernel:
    k = _unary(xp, node, env)
    return OutKernel(lambda ins, out: [(k, (ins[0], out), {})], inplace=True)
