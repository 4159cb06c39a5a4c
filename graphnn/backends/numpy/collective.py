"""NumPy kernel of `all_reduce`: pack a bucket of tensors into one flat buffer, reduce it across ranks with one
MPI call (graphnn.distributed), unpack. Written against `xp`; a device array is staged through host memory.

On the host the kernel is also non-blocking: the executor may call `start` (pack, MPI_Iallreduce) where the node
is scheduled, `poll` (MPI_Test: MPICH progresses only inside MPI calls) after the kernels that follow, and `wait`
right before the first kernel that reads an output; called plainly it is the blocking MPI_Allreduce.

The first bucket of a data-parallel step also checks that every rank runs the same graph on an equal shard: its
first `CHECKED_CALLS` calls with a separate 4-integer collective (robust even to buckets of different sizes),
later calls through a tail of small integers appended to the bucket itself (no extra collective per step).

Imports graphnn.ir, graphnn.backends and graphnn.distributed (the communicator the kernel calls).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np  # the host side of MPI buffers; array math goes through xp

from ...distributed import comm
from ...distributed.replicas import agreement_tail, check_step, tail_exact, tail_mismatch
from ...ir.errors import GraphError
from ...ir.graph import Node
from ..table import Table

Kernel = Callable[..., Any]
KERNELS: Table = Table("numpy kernel (collective)")
OUT_KERNELS: Table = Table("numpy out= kernel (collective)")  # none: a collective writes its own buffers

CHECKED_CALLS = 2  # calls of a checking bucket that run the separate agreement collective; then the tail does
_calls: weakref.WeakKeyDictionary[Node, list[int]] = weakref.WeakKeyDictionary()  # per node, across its plans


class Bucket:
    """One `all_reduce` node's kernel: blocking when called, or `start` / `poll` / `wait` (host arrays only)."""

    def __init__(self, xp: Any, node: Node, env: dict) -> None:
        self.xp, self.node, self.p = xp, node, comm.size()
        self.dtype = np.dtype(node.outputs[0].dtype)
        # Summing x/P gives the mean: exactly (a+b)/2 for P = 2, within an ulp otherwise.
        self.scale = self.dtype.type(1.0 / self.p) if node.attrs["op"] == "mean" else None
        self.hash = node.attrs["check_hash"]
        bdim = node.attrs["batch_dim"]
        self.local_batch = int(env.get(bdim, -1)) if bdim else -1
        self.where = f"{node.name} (at {node.location})"
        self.calls = _calls.setdefault(node, [0])
        self.checked = CHECKED_CALLS
        use_tail = bool(self.hash) and tail_exact(self.dtype, self.p)
        self.tail = agreement_tail(self.hash, self.local_batch, self.dtype) if use_tail else None
        self.tail_sum = None if self.tail is None else self.tail * self.dtype.type(self.p)  # all ranks agree
        self.nonblocking = xp is np
        self.req: Any = None  # the request in flight between `start` and `wait`
        self.flat: Any = None  # its buffer, and the bucket's length without the agreement tail
        self.n = 0
        self.kept: Any = None  # the flat buffer `start` reuses

    def _pack(self, xs: tuple, keep: bool = False) -> tuple[Any, list[Any], int]:
        """Copy the bucket into one flat buffer: a fresh one (the outputs may be returned to the user, who keeps
        them past the next step), or with `keep` this kernel's own, reused every step (no allocation and page
        faults per step; the executor copies any output it returns)."""
        if self.hash:
            self.calls[0] += 1
            if self.tail is None or self.calls[0] <= self.checked:
                check_step(self.where, self.hash, self.local_batch)
        n = sum(int(x.size) for x in xs)
        tail = self.tail if self.tail is not None and self.calls[0] > self.checked else None
        size = n + (0 if tail is None else tail.size)
        if not keep:
            flat = self.xp.empty(size, dtype=self.dtype)
        else:  # room for the agreement tail from the start: on the host maybe a shared-memory window's slot
            if self.kept is None or self.kept.size < size:
                full = n + (0 if self.tail is None else self.tail.size)
                self.kept = (comm.reduce_buffer(self.node.name, full, self.dtype) if self.xp is np
                             else self.xp.empty(full, dtype=self.dtype))
            flat = self.kept[:size]
        outs, o = [], 0
        for x in xs:  # the mean's 1/P is applied here, on data in this core's cache, not to the reduced buffer
            view = flat[o:o + x.size].reshape(x.shape)
            if self.scale is None:
                view[...] = x
            else:
                self.xp.multiply(x, self.scale, out=view)
            outs.append(view)
            o += x.size
        if tail is not None:
            flat[n:] = tail
        return flat, outs, n

    def _finish(self, host: np.ndarray, n: int) -> None:
        """Check the agreement tail: on a mismatch every rank raises alike."""
        if host.size > n and not (host[n:] == self.tail_sum).all():
            tail_mismatch(self.where, host[n:], self.tail, self.local_batch)

    def __call__(self, *xs: Any) -> Any:
        flat, outs, n = self._pack(xs)
        host = flat if self.xp is np else self.xp.asnumpy(flat)
        comm.allreduce_array(host, "sum")
        self._finish(host, n)
        if self.xp is not np:
            flat.set(host)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def start(self, *xs: Any) -> Any:
        """Pack into this kernel's own buffer and start the reduction; the outputs (views of that buffer, valid
        until the next step) hold the result only after `wait()`."""
        if self.req is not None:
            raise GraphError(f"{self.where}: the previous step stopped between starting and finishing this all-reduce "
                             "(an exception caught mid-step?), so the ranks' collectives no longer match; a "
                             "data-parallel step that raised cannot be retried")
        flat, outs, n = self._pack(xs, keep=True)
        self.flat, self.n = flat, n
        self.req = comm.iallreduce_array(flat, "sum")
        return outs[0] if len(outs) == 1 else tuple(outs)

    def poll(self) -> None:
        """Let MPI progress the reduction in flight (MPICH moves data only inside MPI calls)."""
        if self.req is not None:
            self.req.Test()

    def wait(self) -> None:
        """Finish the reduction started by `start`: the outputs now hold the mean over all ranks."""
        req, self.req = self.req, None
        if req is not None:
            req.Wait()
        self._finish(self.flat, self.n)
        self.flat = None


@KERNELS.register("all_reduce")
def _all_reduce(xp: Any, node: Node, env: dict) -> Kernel:
    if comm.size() == 1:  # the identity on one rank: no copies, no calls
        return (lambda x: x) if len(node.outputs) == 1 else (lambda *xs: xs)
    return Bucket(xp, node, env)
