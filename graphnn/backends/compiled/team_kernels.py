"""numba kernels of the two-thread team (team.py, the driver): one convolution of a lone block of samples split
by output rows between the calling thread and one helper thread, each thread running its rows' whole pipeline
with no barrier between the steps (the rows are independent): a Winograd convolution's tile rows (input
transform, GEMMs, output transform) or a column convolution's output rows (colconv_kernels.rows_share).
Everything a thread runs is one nogil call: handing the GIL back and forth between the steps cost a sleeping
thread's wake-up each time (RESULTS.md).

The helper thread sits in `serve` for its whole life, blocked in `sem_wait` while idle, spinning for the next
task only while a plan run holds it (`_next_task`); the caller writes a task into a shared int64 mailbox and
posts the semaphore if the helper sleeps (post_*), does its own rows, then spins on the mailbox's done word
until the helper's rows are finished (wait_done). A task the helper has not claimed within
`spins` loads (~1 ms: it was descheduled, still starting, or gone) the caller claims and runs itself (`steal`),
so the caller never waits on a thread that is not working for it. The caller's rows run in the same compiled
functions as the helper's, called from the driver (a post-own-rows-wait kernel per task kind linked both
Winograd forms into one more module: cold compiles ~18 s instead of ~11, RESULTS.md). Arrays travel through the
mailbox as addresses and shapes; GEMMs are CBLAS sgemm calls at an address passed in an int64 array, as are
sem_post and sem_wait (native_kernels.py): plain integers, so the kernels cache on disk and dispatch in
microseconds. float32 only.

Imports nothing from graphnn but its sibling kernel modules.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from . import colconv_kernels as cc
from . import winograd4_kernels as w4
from . import winograd_kernels as w2
from .native_kernels import (
    addr,
    call_ptr,
    compare_exchange,
    exchange,
    f32_at,
    load_acquire,
    load_seq_cst,
    sgemm,
    store_release,
)

SEQ, DONE, OP, CLAIM = 0, 1, 2, 3  # mailbox words: the last task posted, the last task done, its kind (STOP or
# below), the last task claimed (by the helper, or by the caller when the helper had not picked it up in time)
HOLD, AWAKE = 4, 5  # spin budget for the next task while a plan run lasts (0: sleep at once); 1 while not asleep
STOP, WINOGRAD, COLCONV = 0, 1, 2
ARGS = 8  # a task's arguments start here (written by post_*, read by the *_task kernels)


@numba.njit(nogil=True, cache=True)
def winograd_rows(alpha: int, x: Any, i0: int, i1: int, pt: int, pl: int, tw: int, u: Any, v: Any, mm: Any,
                  pad: Any, rows: Any, out: Any, small: Any, y: Any, bias: Any, has_bias: bool, relu: bool,
                  pool: bool, blas: Any) -> None:
    """Tile rows i0:i1 of every sample of x: input transform into v, alpha^2 GEMMs u[e] @ v[:, e] into mm through
    CBLAS, output transform (with the epilogue) into y. v, mm are flat buffers; the rest as compiled/winograd.py's
    block buffers."""
    e, n, c, k = alpha * alpha, x.shape[0], x.shape[1], y.shape[1]
    ln = n * (i1 - i0) * tw
    if ln <= 0:
        return
    vv, mv = v[:c * e * ln].reshape(c, e, ln), mm[:k * e * ln].reshape(k, e, ln)
    if alpha == 6:
        w4.input_tiles(x, 0, n, i0, i1, pt, pl, tw, vv, pad, rows)
    else:
        w2.input_tiles(x, 0, n, i0, i1, pt, pl, tw, vv, pad, rows)
    ua, va, ma = addr(u), addr(vv), addr(mv)
    for s in range(e):  # (K, C) @ (C, ln) per element, rows e*ln apart in v and mm
        sgemm(blas, k, ln, c, ua + 4 * s * k * c, c, va + 4 * s * ln, e * ln, ma + 4 * s * ln, e * ln)
    zero = np.float32(0)
    if alpha == 6:
        w4.output_tiles(mv, 0, n, i0, i1, tw, y, bias, has_bias, relu, pool, out, small, zero)
    else:
        w2.output_tiles(mv, 0, n, i0, i1, tw, y, bias, has_bias, relu, pool, out, small, zero)


@numba.njit(inline="always")
def _winograd_task(a: Any, blas: Any) -> None:
    """The helper's Winograd rows, arrays rebuilt from the mailbox (the layout post_winograd writes)."""
    n, c, h, wd, k, yh, yw, th, tw, alpha = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]
    e, m = alpha * alpha, alpha - 2
    x = numba.carray(f32_at(a[10]), (n, c, h, wd))
    u = numba.carray(f32_at(a[11]), (e, k, c))
    y = numba.carray(f32_at(a[12]), (n, k, yh, yw))
    bias = numba.carray(f32_at(a[13]), (a[27],))
    cap = n * th * tw * e
    v, mm = numba.carray(f32_at(a[14]), (c * cap,)), numba.carray(f32_at(a[15]), (k * cap,))
    wide = m * tw + 2
    pad = numba.carray(f32_at(a[16]), (m * th + 2, wide))
    rows = numba.carray(f32_at(a[17]), (alpha, wide))
    out = numba.carray(f32_at(a[18]), (m, m * tw))
    small = numba.carray(f32_at(a[19]), (m, alpha))
    winograd_rows(alpha, x, a[20], a[21], a[22], a[23], tw, u, v, mm, pad, rows, out, small, y, bias, a[24] != 0,
                  a[25] != 0, a[26] != 0, blas)


@numba.njit(inline="always")
def _colconv_task(a: Any, blas: Any) -> None:
    """The helper's column-convolution rows, arrays rebuilt from the mailbox (the layout post_colconv writes)."""
    n, c, h, wd, k, yh, yw, kh, kw, ho, wo = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]
    wp, dh, dw, groups = a[11], a[12], a[13], a[14]
    x = numba.carray(f32_at(a[15]), (n, c, h, wd))
    w2 = numba.carray(f32_at(a[16]), (k, c // groups * kh * kw))
    y = numba.carray(f32_at(a[17]), (n, k, yh, yw))
    bias = numba.carray(f32_at(a[18]), (a[19],))
    xpad = numba.carray(f32_at(a[20]), (c, ho + dh * (kh - 1) + 1, wp))
    cols, ybuf = numba.carray(f32_at(a[21]), (a[22],)), numba.carray(f32_at(a[23]), (a[24],))
    cc.rows_share(x, w2, y, bias, a[25] != 0, a[26] != 0, a[27] != 0, a[28], a[29], kh, kw, dh, dw, groups, ho, wo,
                  a[30], a[31], xpad, cols, ybuf, blas)


@numba.njit(nogil=True, cache=True)
def serve(mail: Any, wait: int, sem: int, blas: Any) -> int:
    """The helper thread's life: wait on the semaphore, claim each posted task, run it, publish its number as done;
    return on a STOP task. A task the caller claimed first (it ran the rows itself) is skipped. `last` starts at
    the tasks done, not posted: a task posted while this thread was still starting (numba compiling `serve`)
    is then still seen."""
    last = load_acquire(mail, DONE)
    while True:
        seq = _next_task(mail, last, wait, sem)
        if seq == last:  # a post for a task already seen or stolen
            continue
        last = seq
        op = mail[OP]
        if op == STOP:
            store_release(mail, DONE, seq)
            return 0
        if not compare_exchange(mail, CLAIM, seq - 1, seq):
            continue
        if op == WINOGRAD:
            _winograd_task(mail[ARGS:], blas)
        elif op == COLCONV:
            _colconv_task(mail[ARGS:], blas)
        store_release(mail, DONE, seq)


@numba.njit(inline="always")
def _next_task(mail: Any, last: int, wait: int, sem: int) -> int:
    """The posted task number after `last`'s, or `last` again (a stale post): while the caller's plan run holds
    the team (HOLD > 0 loads of budget) spin for it, then announce sleep (AWAKE 0), look once more, and block in
    sem_wait. The caller publishes SEQ, then reads AWAKE and posts the semaphore only if 0; both sides write
    then read with sequentially consistent atomics, so one of them sees the other's write and no task waits
    for a post that never comes."""
    for _ in range(load_acquire(mail, HOLD)):
        seq = load_acquire(mail, SEQ)
        if seq != last:
            return seq
        if load_acquire(mail, HOLD) == 0:  # the run ended
            break
    exchange(mail, AWAKE, 0)
    seq = load_seq_cst(mail, SEQ)
    if seq == last:
        while call_ptr(wait, sem) != 0:  # interrupted by a signal: wait again
            pass
        seq = load_acquire(mail, SEQ)
    exchange(mail, AWAKE, 1)
    return seq


@numba.njit(nogil=True, cache=True)
def wait_done(mail: Any, seq: int, spins: int) -> bool:
    """Spin until task seq is done, or give up after `spins` loads (False)."""
    for _ in range(spins):
        if load_acquire(mail, DONE) == seq:
            return True
    return False


@numba.njit(nogil=True, cache=True)
def steal(mail: Any, seq: int) -> bool:
    """Claim task seq for the caller (the helper has not picked it up): True if the caller now runs its rows and
    then calls `finish`; False if the helper claimed it first (the caller waits for it)."""
    return compare_exchange(mail, CLAIM, seq - 1, seq)


@numba.njit(nogil=True, cache=True)
def finish(mail: Any, seq: int) -> None:
    """Publish a stolen task as done (keeps DONE counting every task)."""
    store_release(mail, DONE, seq)


@numba.njit(inline="always")
def _publish(mail: Any, op: int, head: Any, post: int, sem: int) -> int:
    """Write a task's arguments and kind, publish its number (release), wake the helper; the task's number."""
    for i in range(len(head)):
        mail[ARGS + i] = head[i]
    seq = mail[SEQ] + 1
    mail[OP] = op
    exchange(mail, SEQ, seq)
    if load_seq_cst(mail, AWAKE) == 0:  # asleep, or about to be (see _next_task)
        call_ptr(post, sem)
    return seq


@numba.njit(nogil=True, cache=True)
def post_winograd(mail: Any, post: int, sem: int, alpha: int, x: Any, u: Any, y: Any, bias: Any, has_bias: bool,
                  relu: bool, pool: bool, pt: int, pl: int, th: int, tw: int, cut: int, v: Any, mm: Any, pad: Any,
                  rows: Any, out: Any, small: Any) -> int:
    """Post a Winograd convolution's tile rows cut:th to the helper, with its block buffers (v ... small, passed
    one by one: numba's dispatcher types arrays in C, a tuple of them in Python); the task's number. The caller
    then runs rows 0:cut (winograd_rows) and waits (wait_done). Most of this call's ~15 us is sem_post's wake-up
    of the idle core."""
    n, c, h, wd = x.shape
    k, yh, yw = y.shape[1], y.shape[2], y.shape[3]
    head = (np.int64(n), c, h, wd, k, yh, yw, th, tw, alpha, addr(x), addr(u), addr(y), addr(bias), addr(v),
            addr(mm), addr(pad), addr(rows), addr(out), addr(small), cut, th, pt, pl, int(has_bias), int(relu),
            int(pool), bias.shape[0])
    return _publish(mail, WINOGRAD, head, post, sem)


@numba.njit(nogil=True, cache=True)
def post_colconv(mail: Any, post: int, sem: int, x: Any, w2: Any, y: Any, bias: Any, has_bias: bool, relu: bool,
                 pool: bool, pt: int, pl: int, kh: int, kw: int, dh: int, dw: int, groups: int, ho: int, wo: int,
                 cut: int, xpad: Any, cols: Any, ybuf: Any) -> int:
    """As post_winograd for a column convolution's output rows cut:ho (cut even when pooled), with its buffers;
    the caller runs rows 0:cut with colconv_kernels.rows_share."""
    n, c, h, wd = x.shape
    k, yh, yw = y.shape[1], y.shape[2], y.shape[3]
    head = (np.int64(n), c, h, wd, k, yh, yw, kh, kw, ho, wo, xpad.shape[2], dh, dw, groups, addr(x), addr(w2),
            addr(y), addr(bias), bias.shape[0], addr(xpad), addr(cols), cols.shape[0], addr(ybuf), ybuf.shape[0],
            int(has_bias), int(relu), int(pool), pt, pl, cut, ho)
    return _publish(mail, COLCONV, head, post, sem)
