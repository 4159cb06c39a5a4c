"""The process group: this rank, the number of ranks, sharding a global batch, and thin wrappers over mpi4py's
collectives (in-place all-reduce, broadcast, allgather, abort) plus the excepthook that stops every rank on a fault.

Imports graphnn.ir (errors) only. mpi4py is imported lazily and only when the process was launched by an MPI
launcher, so a plain `python train.py` never initializes MPI and is rank 0 of 1.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any

import numpy as np

from ..ir.errors import GraphError, ShapeError
from . import shm

# Set by mpiexec (MPICH/Hydra, Intel MPI: PMI_*; Open MPI: OMPI_*; PMIx launchers: PMIX_RANK).
_LAUNCH_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")
_state: dict[str, Any] = {"resolved": False, "comm": None, "shm": None}


def is_launched() -> bool:
    """True when an MPI launcher started this process (its environment says so)."""
    return any(v in os.environ for v in _LAUNCH_VARS)


def world() -> Any:
    """mpi4py's COMM_WORLD, or None when not launched under MPI or when mpi4py is not installed."""
    if not _state["resolved"]:
        _state["resolved"] = True
        if is_launched():
            try:
                from mpi4py import MPI  # optional dependency: the `distributed` extra
            except ImportError:
                MPI = None
            if MPI is not None:
                _state["comm"] = MPI.COMM_WORLD
                if MPI.COMM_WORLD.Get_size() > 1:
                    install_excepthook()
    return _state["comm"]


def rank() -> int:
    """This process's rank (0 without MPI)."""
    c = world()
    return 0 if c is None else int(c.Get_rank())


def size() -> int:
    """The number of ranks (1 without MPI)."""
    c = world()
    return 1 if c is None else int(c.Get_size())


def shard_bounds(n: int, ranks: int | None = None, which: int | None = None) -> tuple[int, int]:
    """[lo, hi) of rank `which`'s equal share of `n` rows; a global batch that does not divide is a ShapeError."""
    p = size() if ranks is None else ranks
    r = rank() if which is None else which
    if n % p:
        raise ShapeError(f"gn.dist.shard: a global batch of {n} rows does not split evenly over {p} ranks "
                         f"({n} = {n // p} * {p} + {n % p}); use a global batch size divisible by {p}")
    k = n // p
    return r * k, (r + 1) * k


def shard(array: Any, axis: int = 0) -> Any:
    """This rank's contiguous, equal slice of a global batch along `axis` (the whole array on one rank)."""
    a = np.asarray(array) if not hasattr(array, "shape") else array
    if a.ndim == 0:
        raise ShapeError("gn.dist.shard: a scalar has no batch axis to split")
    ax = axis % a.ndim
    lo, hi = shard_bounds(int(a.shape[ax]))
    index = (slice(None),) * ax + (slice(lo, hi),)
    return a[index]


def _mpi_op(op: str) -> Any:
    from mpi4py import MPI  # only reached with a live communicator, so mpi4py is installed

    ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
    if op not in ops:
        raise GraphError(f"unknown reduction {op!r}; one of {sorted(ops)}")
    return ops[op]


def allreduce_array(buf: np.ndarray, op: str = "sum", scale: float | None = None) -> np.ndarray:
    """Reduce a contiguous array across ranks in place (one MPI call), times `scale` if given, and return it."""
    c = world()
    if c is None or c.Get_size() == 1:
        return buf
    if not buf.flags.c_contiguous:
        raise GraphError("allreduce_array needs a C-contiguous buffer")
    from mpi4py import MPI  # only reached with a live communicator

    node = shm.lookup(buf) if op == "sum" else None
    if node is not None:
        node.reduce(buf.size)
    else:
        c.Allreduce(MPI.IN_PLACE, buf, op=_mpi_op(op))
    if scale is not None:
        np.multiply(buf, buf.dtype.type(scale), out=buf)
    return buf


def iallreduce_array(buf: np.ndarray, op: str = "sum") -> Any:
    """Start reducing a contiguous array across ranks in place (MPI_Iallreduce); returns mpi4py's request
    (`Test()` lets it progress, `Wait()` finishes it), or None on one rank (nothing to do)."""
    c = world()
    if c is None or c.Get_size() == 1:
        return None
    if not buf.flags.c_contiguous:
        raise GraphError("iallreduce_array needs a C-contiguous buffer")
    node = shm.lookup(buf) if op == "sum" else None
    if node is not None:
        return shm.Request(node, buf.size)
    from mpi4py import MPI  # only reached with a live communicator

    return c.Iallreduce(MPI.IN_PLACE, buf, op=_mpi_op(op))


def reduce_buffer(key: str, size: int, dtype: Any) -> np.ndarray:
    """The flat buffer a bucket packs into and reduces every step: a slot of a shared-memory window when all ranks
    share this machine (graphnn/distributed/shm.py, about half MPI_Allreduce's time), else an ordinary array.
    One per (key, size, dtype) for the run, so a plan rebuilt on one rank only (a new batch size) finds its buffer
    without a collective; the first request of each is collective (every rank's agreement check passed just
    before it, in the same order on every rank)."""
    c = world()
    if c is None or c.Get_size() == 1:
        return np.empty(size, dtype)
    if _state["shm"] is None:
        _state["shm"] = shm.available(c)
    if not _state["shm"]:
        return np.empty(size, dtype)
    pool = _state.setdefault("buffers", {})
    k = (key, size, np.dtype(dtype).str)
    if k not in pool:
        pool[k] = shm.allocate(c, size, dtype)
    return pool[k]


def allreduce(values: Any, op: str = "sum") -> np.ndarray:
    """The element-wise reduction of `values` (numbers or an array) across ranks, as float64 (a fresh array)."""
    return allreduce_array(np.array(values, dtype=np.float64, copy=True).reshape(-1), op)


def allgather(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order (pickled; for small things)."""
    c = world()
    return [obj] if c is None or c.Get_size() == 1 else list(c.allgather(obj))


def broadcast_arrays(arrays: list[np.ndarray], root: int = 0) -> None:
    """Overwrite every rank's arrays with root's, in place (parameters at the start of training)."""
    c = world()
    if c is None or c.Get_size() == 1:
        return
    for a in arrays:
        if not a.flags.c_contiguous:
            raise GraphError("broadcast_arrays needs C-contiguous arrays")
        c.Bcast(a, root=root)


def barrier() -> None:
    """Wait until every rank arrives."""
    c = world()
    if c is not None and c.Get_size() > 1:
        c.Barrier()


def abort(code: int = 1) -> None:
    """Stop every rank now (MPI_Abort); the launcher exits non-zero. Without MPI, exit this process."""
    c = world()
    if c is None or c.Get_size() == 1:
        os._exit(code)
    c.Abort(code)


def install_excepthook() -> None:
    """An uncaught exception prints `rank r of p` with its traceback, then aborts every rank, so no rank waits
    forever in a collective. An error every rank raises alike (marked `all_ranks`) just exits non-zero."""
    if getattr(sys.excepthook, "graphnn_dist", False):
        return
    previous = sys.excepthook

    def hook(tp: type, exc: BaseException, tb: Any) -> None:
        r, p = rank(), size()
        text = "".join(traceback.format_exception(tp, exc, tb))
        sys.stderr.write(f"graphnn.dist: rank {r} of {p} failed:\n{text}")
        sys.stderr.flush()
        if getattr(exc, "all_ranks", False):
            return  # every rank stops with this same error: nobody is left waiting
        time.sleep(1.0)  # let the launcher forward this message before the abort tears its pipes down
        abort(1)
        previous(tp, exc, tb)  # not reached under MPI

    hook.graphnn_dist = True  # type: ignore[attr-defined]
    sys.excepthook = hook
