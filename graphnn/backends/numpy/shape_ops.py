"""NumPy kernels of graphnn/ir/ops/shape_ops.py: reshape, transpose, concat, slice, unslice, broadcast_to, tile (the
executor takes the view-making ones as views of their input; see Op.view).

Written against `xp`. Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..table import Table
from .support import Factory, Kernel, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (shape_ops)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (shape_ops)")


@KERNELS.register("reshape")
def _reshape(xp: Any, node: Node, env: dict) -> Kernel:
    shape = shape_of(node.outputs[0].type.shape, env)
    return lambda x: xp.reshape(x, shape)


@KERNELS.register("transpose")
def _transpose(xp: Any, node: Node, env: dict) -> Kernel:
    perm = node.attrs["perm"]
    return lambda x: xp.transpose(x, perm)


@KERNELS.register("concat")
def _concat(xp: Any, node: Node, env: dict) -> Kernel:
    ax = node.attrs["axis"]
    dt = node.outputs[0].dtype

    def f(*xs: Any) -> Any:
        # Into a C-ordered result: concatenate alone keeps the inputs' layout (transposed views give a transposed
        # result), and a reshape after it would copy again (passes/concat_layout.py relies on this).
        shape = list(xs[0].shape)
        shape[ax] = sum(x.shape[ax] for x in xs)
        return xp.concatenate(xs, axis=ax, out=xp.empty(tuple(shape), dt))

    return f


def index_tuple(index: tuple) -> tuple:
    """A slice node's `index` attr as the Python index it stands for."""
    out: list[Any] = []
    for item in index:
        if item[0] == "new":
            out.append(None)
        elif item[0] == "int":
            out.append(item[1])
        else:
            out.append(slice(item[1], item[2], item[3]))
    return tuple(out)


@KERNELS.register("slice")
def _slice(xp: Any, node: Node, env: dict) -> Kernel:
    idx = index_tuple(node.attrs["index"])
    return lambda x: x[idx]


@KERNELS.register("unslice")
def _unslice(xp: Any, node: Node, env: dict) -> Kernel:
    idx = index_tuple(node.attrs["index"])
    shape, dt = shape_of(node.outputs[0].type.shape, env), node.outputs[0].dtype

    def f(x: Any) -> Any:
        out = xp.zeros(shape, dtype=dt)
        out[idx] = x
        return out

    return f


@KERNELS.register("broadcast_to")
def _broadcast_to(xp: Any, node: Node, env: dict) -> Kernel:
    shape = shape_of(node.outputs[0].type.shape, env)
    return lambda x: xp.broadcast_to(x, shape)


@KERNELS.register("tile")
def _tile(xp: Any, node: Node, env: dict) -> Kernel:
    reps = node.attrs["reps"]
    return lambda x: xp.tile(x, reps)
