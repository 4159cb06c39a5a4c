"""Small numba intrinsics the team's kernels need and numba does not offer: atomic acquire loads and release
stores on an int64 mailbox (team_kernels.py), and pointers from integer addresses (arrays rebuilt from the
mailbox with numba.carray; CBLAS's void* arguments). Imports numba at its top.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _item_pointer(context: Any, builder: Any, sig: Any, args: Any) -> Any:
    ary = context.make_array(sig.args[0])(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]], wraparound=False)


@intrinsic
def load_acquire(typingctx: Any, arr: Any, idx: Any) -> Any:
    """arr[idx] of an int64 array as an atomic acquire load: a spin loop re-reads it (a plain load would be hoisted
    out of the loop), and what the writer stored before its release is visible after it."""
    sig = types.int64(arr, idx)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.load_atomic(_item_pointer(context, builder, signature, args), ordering="acquire", align=8)

    return sig, codegen


@intrinsic
def store_release(typingctx: Any, arr: Any, idx: Any, val: Any) -> Any:
    """arr[idx] = val on an int64 array as an atomic release store (publishes everything written before it)."""
    sig = types.void(arr, idx, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        builder.store_atomic(args[2], _item_pointer(context, builder, signature, args), ordering="release", align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def compare_exchange(typingctx: Any, arr: Any, idx: Any, expected: Any, new: Any) -> Any:
    """Atomically arr[idx] = new if it holds `expected` (an int64 array); whether it did (acquire-release)."""
    sig = types.boolean(arr, idx, types.int64, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature, args)
        res = builder.cmpxchg(ptr, args[2], args[3], "acq_rel", "acquire")
        return builder.extract_value(res, 1)

    return sig, codegen


@intrinsic
def f32_at(typingctx: Any, addr: Any) -> Any:
    """The float32 pointer at an integer address (for numba.carray)."""
    sig = types.CPointer(types.float32)(types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], ir.PointerType(ir.FloatType()))

    return sig, codegen


@intrinsic
def void_at(typingctx: Any, addr: Any) -> Any:
    """The void pointer at an integer address (a CBLAS array argument)."""
    sig = types.voidptr(types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return sig, codegen


@numba.njit(inline="always")
def addr(a: Any) -> int:
    """An array's data address as int64 (numba gives uintp, which widens int64 arithmetic to float)."""
    return np.int64(a.ctypes.data)
