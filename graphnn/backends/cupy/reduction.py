"""CuPy overrides for graphnn/ir/ops/reduction.py: sum/mean/max/min as CuPy's own reductions with `out=` (the
NumPy table calls `ufunc.reduce`, which CuPy lacks). Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table

KERNELS: Table[Any] = Table("cupy kernel (reduction)")
OUT_KERNELS: Table[Any] = Table("cupy out= kernel (reduction)")


@OUT_KERNELS.register("sum", "mean", "max", "min")
def _reduce_out(xp: Any, node: Node, env: dict) -> OutKernel:
    f = getattr(xp, node.op)  # cupy.sum / mean / max / min
    a = node.attrs["axes"]
    kw: dict[str, Any] = {"axis": None if a is None else tuple(a), "keepdims": node.attrs["keepdims"]}
    if node.op in ("sum", "mean"):
        kw["dtype"] = node.outputs[0].dtype
    return OutKernel(lambda ins, out: [(f, (ins[0],), {**kw, "out": out})])
