"""NumPy kernels of graphnn/ir/ops/indexing.py: gather (one range check of the indices, then take) and
scatter_add (zeros, then an unbuffered add at the indices). Written against `xp`; CuPy overrides scatter_add.

Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.errors import FeedError
from ...ir.graph import Node
from ..table import Table
from .support import Factory, Kernel, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (indexing)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (indexing)")


def index_check(xp: Any, size: int, node: Node) -> Callable[[Any], None]:
    """`check(i)` raising FeedError for indices outside [-size, size), naming the node and where it was built."""
    where = node.location

    def check(i: Any) -> None:
        if i.size and (int(i.min()) < -size or int(i.max()) >= size):
            raise FeedError(f"{node.op} {node.name} (built at {where}): indices must lie in [{-size}, {size}), got "
                            f"min {int(i.min())} max {int(i.max())}")

    return check


@KERNELS.register("gather")
def _gather(xp: Any, node: Node, env: dict) -> Kernel:
    ax = node.attrs["axis"]
    check = index_check(xp, shape_of(node.inputs[0].type.shape, env)[ax], node)

    def f(x: Any, i: Any) -> Any:
        check(i)
        return xp.take(x, i, axis=ax)

    return f


def scatter_target(node: Node, env: dict) -> tuple[tuple[int, ...], int, Callable[[Any], None]]:
    """The output shape, axis and index check of a scatter_add node (shared with the CuPy override)."""
    shape, ax = shape_of(node.attrs["shape"], env), node.attrs["axis"]
    return shape, ax, index_check(None, shape[ax], node)


@KERNELS.register("scatter_add")
def _scatter_add(xp: Any, node: Node, env: dict) -> Kernel:
    shape, ax, check = scatter_target(node, env)
    lead = (slice(None),) * ax

    def f(upd: Any, i: Any) -> Any:
        check(i)
        out = xp.zeros(shape, upd.dtype)
        xp.add.at(out, lead + (i,), upd)  # unbuffered: repeated indices accumulate
        return out

    return f
