"""A helper thread for the one case where the conv kernels' worker threads cannot help: a lone block of samples
(batch 1 inference) with two or more CPU threads allowed. The Winograd driver splits the block's tile rows, the
column path (colconv.py) its output rows: the helper runs the last rows while the calling thread runs the first,
each as one nogil compiled call (team_kernels.py). The VGG-like batch-1 inference on two threads: 0.39-0.47 ms
against 0.57-0.59 on one (RESULTS.md).

Why not the worker threads the batch blocks use: handing the helper its rows through a Python thread pool costs a
thread wake-up plus a GIL hand-off per step (three steps per layer); on this VM that was 1.12 ms for the VGG-like
batch-1 net against 0.62 serial. Why not numba's OpenMP `parallel=True`: with `OMP_WAIT_POLICY=PASSIVE` (the
benchmarks' setting for every library, so no idle pool spins) each region paid two sleeping-thread wake-ups and ran
slower than one thread. Here the helper sleeps in `sem_wait` between calls; within one plan run it spins for the
run's next layer (HOLD_SPINS) until the run's end releases it (`release`, from the conv kernels' BlasSession),
so it never spins between calls or into another library's time, and a task posted to it while it spins needs
no `sem_post` (~15 us) and no wake-up (11-29 us). The caller spins only for the helper's last rows.
GRAPHNN_TEAM_SPIN=0 makes the helper sleep after every task.

One team per process, started on first use; unavailable (None) without numba, without NumPy's CBLAS sgemm
(compiled/cblas.py), without POSIX unnamed semaphores (macOS), or when GRAPHNN_NO_TEAM is set. One call at a
time: a second thread's call finds the team busy and runs serially. A forked child starts its own. Rows the helper
has not picked up within ~1 ms (it is still starting, was descheduled, or is gone) the caller runs itself.
Imports nothing from graphnn.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import sys
import threading
from typing import Any

import numpy as np

from . import kernels
from .cblas import sgemm_blas

SPINS = 1 << 20  # mailbox loads per wait (~1 ms); a task not claimed by then the caller runs itself
HOLD_SPINS = 1 << 20  # mailbox loads the helper spins for the next task while a plan run holds the team (~1 ms;
# the run's end releases it at once): the next layer then costs no sem_post and no wake-up (RESULTS.md)
HELPER_SHARE = 0.4  # of the rows for a sleeping helper: it starts a wake-up late and ran ~1.3x slower per row
HELPER_SHARE_AWAKE = 0.5  # for one still awake from the run's previous layer (RESULTS.md)
MIN_FLOPS = 8e6  # a call's direct-convolution FLOPs from which it splits: the VGG-like 3->32 layer at batch 1
# (1.8 MFLOP, 28 us on one thread) took 41 us split; its 32->64 layer (9.4 MFLOP) 103 -> 89 (RESULTS.md)
_TEAM: list = []  # [Team or None] once looked up in this process


def enabled_by_env() -> bool:
    """False when GRAPHNN_NO_TEAM is set to a true value (1, true, yes, on)."""
    return os.environ.get("GRAPHNN_NO_TEAM", "").strip().lower() not in ("1", "true", "yes", "on")


def helper_rows(rows: int, flops: float) -> int:
    """How many of `rows` (tile rows, output rows or pooled rows) of a call of `flops` the helper takes (half if
    it is awake, held by this run, else HELPER_SHARE); 0: too few rows, or too little work, to split."""
    if rows < 2 or flops < MIN_FLOPS:
        return 0
    t = _TEAM[0] if _TEAM else None
    awake = t is not None and t.mail[t.mod.AWAKE] == 1 and t.mail[t.mod.HOLD] > 0
    return max(1, int(rows * (HELPER_SHARE_AWAKE if awake else HELPER_SHARE)))


class Team:
    """The calling thread plus one helper thread (blocked in sem_wait between plan runs), sharing an int64 mailbox."""

    def __init__(self, mod: Any, libc: Any, blas: np.ndarray) -> None:
        self.mod, self.blas = mod, blas
        self.hold = HOLD_SPINS if spin_enabled() else 0  # what a call sets HOLD to (read once, not per layer)
        self.mail = np.zeros(64, np.int64)
        self.sem_mem = np.zeros(64, np.uint8)  # room for a sem_t (32 bytes on Linux)
        self.sem = self.sem_mem.ctypes.data
        if libc.sem_init(ctypes.c_void_p(self.sem), 0, 0) != 0:
            raise OSError("sem_init failed")
        self.sem_post = libc.sem_post
        self.post, wait = (ctypes.cast(f, ctypes.c_void_p).value for f in (libc.sem_post, libc.sem_wait))
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=mod.serve, args=(self.mail, wait, self.sem, blas),
                                       name="graphnn-team", daemon=True)
        self.thread.start()

    def winograd(self, alpha: int, x: np.ndarray, u: np.ndarray, y: np.ndarray, bias: np.ndarray, has_bias: bool,
                 relu: bool, pool: bool, pt: int, pl: int, th: int, tw: int, cut: int, mine: tuple,
                 theirs: tuple) -> bool:
        """A Winograd convolution's tile rows 0:cut here and cut:th on the helper; False, with nothing done, when
        another thread's call holds the team. `mine` and `theirs` are each thread's block buffers."""
        m = self.mod
        return self._run(
            lambda: m.post_winograd(self.mail, self.post, self.sem, alpha, x, u, y, bias, has_bias, relu, pool, pt,
                                    pl, th, tw, cut, *theirs),
            lambda lo, hi, bufs: m.winograd_rows(alpha, x, lo, hi, pt, pl, tw, u, *bufs, y, bias, has_bias, relu,
                                                 pool, self.blas), cut, th, mine, theirs)

    def colconv(self, x: np.ndarray, w2: np.ndarray, y: np.ndarray, bias: np.ndarray, has_bias: bool, relu: bool,
                pool: bool, pt: int, pl: int, kh: int, kw: int, dh: int, dw: int, groups: int, ho: int, wo: int,
                cut: int, mine: tuple, theirs: tuple) -> bool:
        """A column convolution's output rows 0:cut here and cut:ho on the helper (cut even when pooled)."""
        m, geo = self.mod, (pt, pl, kh, kw, dh, dw, groups, ho, wo)
        return self._run(
            lambda: m.post_colconv(self.mail, self.post, self.sem, x, w2, y, bias, has_bias, relu, pool, *geo, cut,
                                   *theirs),
            lambda lo, hi, bufs: m.cc.rows_share(x, w2, y, bias, has_bias, relu, pool, *geo, lo, hi, *bufs,
                                                 self.blas), cut, ho, mine, theirs)

    def _run(self, post: Any, rows: Any, cut: int, end: int, mine: tuple, theirs: tuple) -> bool:
        """post() the helper's rows cut:end, run rows(0, cut, mine) here, then wait for the helper (spinning); if it
        has not claimed them within SPINS loads (still starting, descheduled, gone), run them here as well."""
        if not self.lock.acquire(blocking=False):
            return False
        m = self.mod
        try:
            self.mail[m.HOLD] = self.hold  # until release(): the plan run's end
            seq = post()
            rows(0, cut, mine)
            if not m.wait_done(self.mail, seq, SPINS):
                if m.steal(self.mail, seq):
                    rows(cut, end, theirs)
                    m.finish(self.mail, seq)
                while not m.wait_done(self.mail, seq, SPINS):  # it claimed them: they are under way
                    if not self.thread.is_alive():  # gone since (interpreter teardown): its rows here
                        rows(cut, end, theirs)
                        break
                    os.sched_yield()  # the helper was descheduled: let it run
        finally:
            self.lock.release()
        return True

    def release(self) -> None:
        """The plan run that used the team has ended: the helper stops spinning for tasks and sleeps."""
        self.mail[self.mod.HOLD] = 0

    def stop(self) -> None:
        """End the helper thread (at exit)."""
        with self.lock:
            self.release()
            if self.thread.is_alive():
                self.mail[self.mod.OP] = self.mod.STOP
                self.mail[self.mod.SEQ] += 1
                self.sem_post(self.sem)
                self.thread.join(timeout=1.0)


def spin_enabled() -> bool:
    """False when GRAPHNN_TEAM_SPIN is set to a false value (0, false, no, off) when the team starts: the helper
    then sleeps after every task, even between the layers of one run."""
    return os.environ.get("GRAPHNN_TEAM_SPIN", "").strip().lower() not in ("0", "false", "no", "off")


def release() -> None:
    """End the current plan run's hold on the team, if a team was started (the conv kernels' BlasSession calls
    this when a run ends or raises)."""
    if _TEAM and _TEAM[0] is not None:
        _TEAM[0].release()


def available(dtype: Any) -> bool:
    """Whether calls of this dtype could use a team here (without starting one): float32, switched on, numba and
    NumPy's CBLAS sgemm present, POSIX semaphores (not macOS)."""
    return np.dtype(dtype) == np.float32 and enabled_by_env() and sys.platform.startswith("linux") and \
        (not _TEAM or _TEAM[0] is not None) and kernels("team") is not None and sgemm_blas() is not None


def team() -> Team | None:
    """The process's team, started on first call, or None where it is unavailable (see the module docstring)."""
    if not _TEAM:
        _TEAM.append(_start() if enabled_by_env() else None)
    return _TEAM[0]


def _start() -> Team | None:
    mod, blas, p = kernels("team"), sgemm_blas(), ctypes.c_void_p
    if mod is None or blas is None:
        return None
    try:
        libc = ctypes.CDLL(None)
        for name in ("sem_init", "sem_wait", "sem_post"):
            f = getattr(libc, name)
            f.argtypes = [p, ctypes.c_int, ctypes.c_uint] if name == "sem_init" else [p]
            f.restype = ctypes.c_int
        t = Team(mod, libc, blas)
    except (OSError, AttributeError):
        return None
    atexit.register(t.stop)
    return t


def _forget() -> None:  # a forked child has no helper thread: it starts its own on first use
    _TEAM.clear()


os.register_at_fork(after_in_child=_forget)
