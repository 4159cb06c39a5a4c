"""NumPy kernel of `all_reduce`: pack a bucket of tensors into one flat buffer, reduce it across ranks with one
MPI call (graphnn.distributed), unpack. Written against `xp`; a device array is staged through host memory.

Imports graphnn.ir, graphnn.backends and graphnn.distributed (the communicator the kernel calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np  # the host side of MPI buffers; array math goes through xp

from ...distributed import comm
from ...distributed.replicas import check_step
from ...ir.graph import Node
from ..table import Table

Kernel = Callable[..., Any]
KERNELS: Table = Table("numpy kernel (collective)")
OUT_KERNELS: Table = Table("numpy out= kernel (collective)")  # none: a collective writes its own buffers


@KERNELS.register("all_reduce")
def _all_reduce(xp: Any, node: Node, env: dict) -> Kernel:
    p = comm.size()
    single = len(node.outputs) == 1
    if p == 1:  # the identity on one rank: no copies, no calls
        return (lambda x: x) if single else (lambda *xs: xs)
    scale = 1.0 / p if node.attrs["op"] == "mean" else None
    graph_hash, bdim = node.attrs["check_hash"], node.attrs["batch_dim"]
    local_batch = int(env.get(bdim, -1)) if bdim else -1
    dtype = np.dtype(node.outputs[0].dtype)
    on_host = xp is np

    def f(*xs: Any) -> Any:
        if graph_hash:
            check_step(f"{node.name} (at {node.location})", graph_hash, local_batch)
        total = sum(int(x.size) for x in xs)
        # A fresh buffer per call: the outputs may be returned to the user, who keeps them past the next step.
        flat = xp.empty(total, dtype=dtype)
        outs, o = [], 0
        for x in xs:
            view = flat[o:o + x.size].reshape(x.shape)
            view[...] = x
            outs.append(view)
            o += x.size
        host = flat if on_host else xp.asnumpy(flat)
        comm.allreduce_array(host, "sum", scale)
        if not on_host:
            flat.set(host)
        return outs[0] if single else tuple(outs)

    return f
