"""Small numba intrinsics the team's and the column path's kernels need and numba does not offer: atomic
acquire loads, release stores and compare-exchange on an int64 mailbox (team_kernels.py), pointers from integer
addresses (arrays rebuilt from the mailbox with numba.carray), and calls of C functions at integer addresses
(CBLAS sgemm, sem_post / sem_wait). Imports numba at its top.
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


@numba.njit(inline="always")
def addr(a: Any) -> int:
    """An array's data address as int64 (numba gives uintp, which widens int64 arithmetic to float)."""
    return np.int64(a.ctypes.data)


def _sgemm_caller(bits: int) -> Any:
    """An intrinsic calling a CBLAS sgemm at an integer address, row-major, no transposes, alpha 1, beta 0:
    (address, m, n, k, a, lda, b, ldb, c, ldc) with a, b, c addresses; `bits`: the width of its integers."""

    @intrinsic
    def call(typingctx: Any, fn: Any, m: Any, n: Any, k: Any, a: Any, lda: Any, b: Any, ldb: Any, c: Any,
             ldc: Any) -> Any:
        sig = types.void(*(types.int64,) * 10)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            i, i32, f32, vp = ir.IntType(bits), ir.IntType(32), ir.FloatType(), ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i, i, i, f32, vp, i, vp, i, f32, vp, i])
            f = builder.inttoptr(args[0], fnty.as_pointer())
            m, n, k, a, lda, b, ldb, c, ldc = args[1:]

            def w(v: Any) -> Any:
                return v if bits == 64 else builder.trunc(v, i)

            def p(v: Any) -> Any:
                return builder.inttoptr(v, vp)

            builder.call(f, [i32(101), i32(111), i32(111), w(m), w(n), w(k), f32(1.0), p(a), w(lda), p(b), w(ldb),
                             f32(0.0), p(c), w(ldc)])
            return context.get_dummy_value()

        return sig, codegen

    return call


_sgemm64, _sgemm32 = _sgemm_caller(64), _sgemm_caller(32)


@numba.njit(inline="always")
def sgemm(blas: Any, m: int, n: int, k: int, a: int, lda: int, b: int, ldb: int, c: int, ldc: int) -> None:
    """c (m x n, row stride ldc) = a (m x k) @ b (k x n) in float32 through CBLAS; `blas` is an int64 array (the
    sgemm's address, 1 when its integers are 64-bit): plain integers, which numba's dispatcher passes in
    nanoseconds where a ctypes function argument cost ~3 us per call."""
    if blas[1]:
        _sgemm64(blas[0], m, n, k, a, lda, b, ldb, c, ldc)
    else:
        _sgemm32(blas[0], m, n, k, a, lda, b, ldb, c, ldc)


@intrinsic
def call_ptr(typingctx: Any, fn: Any, arg: Any) -> Any:
    """int f(void *) at an integer address, called with an address (sem_post, sem_wait)."""
    sig = types.int32(types.int64, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        vp = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [vp])
        return builder.call(builder.inttoptr(args[0], fnty.as_pointer()), [builder.inttoptr(args[1], vp)])

    return sig, codegen


@intrinsic
def exchange(typingctx: Any, arr: Any, idx: Any, val: Any) -> Any:
    """arr[idx] = val on an int64 array as a sequentially consistent atomic exchange (a full fence: a load after
    it cannot be answered before it; team_kernels pairs two of these so no wake-up is lost)."""
    sig = types.int64(arr, idx, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.atomic_rmw("xchg", _item_pointer(context, builder, signature, args), args[2], "seq_cst")

    return sig, codegen


@intrinsic
def load_seq_cst(typingctx: Any, arr: Any, idx: Any) -> Any:
    """arr[idx] of an int64 array as a sequentially consistent atomic load."""
    sig = types.int64(arr, idx)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.load_atomic(_item_pointer(context, builder, signature, args), ordering="seq_cst", align=8)

    return sig, codegen
