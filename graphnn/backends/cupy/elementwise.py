"""CuPy overrides for graphnn/ir/ops/elementwise.py: sigmoid, softplus, leaky_relu and erf each as one generated
`ElementwiseKernel` (cuda_source.py), plain and destination-passing. Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table
from .cuda_source import compiled, unary_source

KERNELS: Table[Any] = Table("cupy kernel (elementwise)")
OUT_KERNELS: Table[Any] = Table("cupy out= kernel (elementwise)")


@KERNELS.register("sigmoid", "softplus", "leaky_relu", "erf")
def _unary(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    attrs = {"alpha": node.attrs["alpha"]} if node.op == "leaky_relu" else None
    return compiled(xp, unary_source(node.op, node.outputs[0].dtype, attrs))


@OUT_KERNELS.register("sigmoid", "softplus", "leaky_relu", "erf")
def _unary_out(xp: Any, node: Node, env: dict) -> OutKernel:
    k = _unary(xp, node, env)
    return OutKernel(lambda ins, out: [(k, (ins[0], out), {})], inplace=True)
