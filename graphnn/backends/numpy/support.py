"""What every NumPy kernel family shares: the factory types, symbolic-shape binding and the one label-range check.

Imports graphnn.ir only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...ir.errors import FeedError
from ...ir.graph import Node
from ...ir.types import dim_value
from ..destination import OutKernel

Kernel = Callable[..., Any]
Factory = Callable[[Any, Node, dict], Kernel]  # (xp, node, env) -> kernel; decides everything at plan time

# int dtype -> the unsigned dtype of its width: a negative label viewed as unsigned is huge (no string work per call)
_UNSIGNED = {np.dtype(f"int{b}"): np.dtype(f"uint{b}") for b in (8, 16, 32, 64)}


def shape_of(node_shape: tuple, env: dict) -> tuple[int, ...]:
    """A type's shape with its symbolic dims bound by `env`."""
    return tuple(dim_value(d, env) for d in node_shape)


def allocating(xp: Any, node: Node, env: dict, ok: OutKernel) -> Kernel:
    """The plain (allocating) form of a destination-passing kernel: a fresh output per call, same calls."""
    shape, dtype = shape_of(node.outputs[0].type.shape, env), node.outputs[0].dtype

    def f(*ins: Any) -> Any:
        out = xp.empty(shape, dtype)
        for fn, args, kw in ok.calls(list(ins), out):
            fn(*args, **kw)
        return out

    return f


def plain(out_factory: Callable[[Any, Node, dict], OutKernel]) -> Factory:
    """The allocating kernel factory of a destination-passing one (`KERNELS.register(op)(plain(_op_out))`)."""
    return lambda xp, node, env: allocating(xp, node, env, out_factory(xp, node, env))


def label_check(xp: Any, depth: int, what: str) -> Callable[[Any], None]:
    """`check(y)` raising FeedError for integer labels outside [0, depth): one max-reduction over y viewed as
    unsigned (so negatives count as huge); min and max are computed only for the message. Any `xp`."""
    umax = xp.maximum.reduce if xp is np else xp.max  # ufunc.reduce skips np.max's Python wrapper (~2 us)

    def check(y: Any) -> None:
        u = _UNSIGNED.get(y.dtype)
        if y.size and int(umax(y.view(u) if u is not None else y, axis=None)) >= depth:
            raise FeedError(f"{what}: labels must lie in [0, {depth}), got min {int(y.min())} max {int(y.max())}")

    return check


def zeros_operand(xp: Any, shape: tuple, dtype: str) -> Any:
    """The zero a ReLU's `maximum` compares with: on NumPy an array of the operand's full shape, because NumPy's
    SIMD loop for maximum takes two contiguous operands and a 0-d one falls to a scalar loop (128x512 float32:
    25 -> 5-8 us; equal results). np.zeros maps untouched zero pages for large sizes, so the big ones cost address
    space, not memory; above 2^22 elements, where the two did not differ, and on CuPy it stays 0-d."""
    return xp.zeros(shape if xp is np and 0 < math.prod(shape) <= 1 << 22 else (), dtype)
