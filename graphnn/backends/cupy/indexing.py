"""CuPy override for graphnn/ir/ops/indexing.py: scatter_add without `ufunc.at`, as a 0/1 selection matrix
product (each output row is the sum of the update rows that name it). Imports graphnn.ir, the backend records and
the NumPy family helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..numpy.indexing import scatter_target
from ..table import Table

KERNELS: Table[Any] = Table("cupy kernel (indexing)")
OUT_KERNELS: Table[Any] = Table("cupy out= kernel (indexing)")


@KERNELS.register("scatter_add")
def _scatter_add(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    shape, ax, check = scatter_target(node, env)
    size, pre, post = shape[ax], shape[:ax], shape[ax + 1:]
    rows = xp.arange(size)

    width = 1
    for d in post:
        width *= d

    def f(upd: Any, i: Any) -> Any:
        check(i)
        flat = i.reshape(-1) % size  # negative indices count from the end, as in gather
        select = (rows[:, None] == flat[None, :]).astype(upd.dtype)  # (size, k)
        return xp.matmul(select, upd.reshape(pre + (flat.shape[0], width))).reshape(shape)

    return f
