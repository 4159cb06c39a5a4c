"""NumPy kernel of `all_reduce`: pack a bucket of tensors into one flat buffer, reduce it across ranks with one
MPI call (graphnn.distributed), unpack. Written against `xp`; a device array is staged through host memory.

Imports graphnn.ir, graphnn.backends and graphnn.distributed (the communicator the kernel calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...distributed import comm
from ...ir.errors import GraphError, ShapeError
from ...ir.graph import Node
from ..table import Table

Kernel = Callable[..., Any]
COLLECTIVE_KERNELS: Table = Table("numpy collective kernels")


def agree(node: Node, graph_hash: int, local_batch: int) -> None:
    """One tiny max-reduction tells every rank whether all ranks run this graph on equal batch shards; on a
    mismatch every rank raises the same error (marked `all_ranks`), so none waits in the next collective."""
    v = np.array([graph_hash, -graph_hash, local_batch, -local_batch], dtype=np.int64)
    comm.allreduce_array(v, "max")
    err: Exception | None = None
    if v[0] != -v[1]:
        err = GraphError(f"all_reduce {node.name}: the ranks run different graphs (graph hash {graph_hash:#x} on "
                         f"rank {comm.rank()}; hashes range {-v[1]:#x}..{v[0]:#x}); every rank must build and "
                         "compile the same graph with data_parallel=True")
    elif v[2] != -v[3]:
        err = ShapeError(f"all_reduce {node.name}: uneven shards: this rank ({comm.rank()} of {comm.size()}) has a "
                         f"batch of {local_batch} rows, others between {-v[3]} and {v[2]}; feed every rank an equal "
                         "share of the global batch (gn.dist.shard)")
    if err is not None:
        err.all_ranks = True  # type: ignore[attr-defined]
        raise err


@COLLECTIVE_KERNELS.register("all_reduce")
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
            agree(node, graph_hash, local_batch)
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
        comm.allreduce_array(host, "sum")
        if scale is not None:
            np.multiply(host, host.dtype.type(scale), out=host)
        if not on_host:
            flat.set(host)
        return outs[0] if single else tuple(outs)

    return f
