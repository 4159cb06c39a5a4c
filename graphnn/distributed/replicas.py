"""Starting replicas in step: every rank checks that all ranks compiled the same graph, then takes rank 0's
parameters and state, so ranks never diverge by initialization.

Imports graphnn.ir (errors) and sibling modules only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.errors import GraphError, ShapeError
from . import comm


def same_everywhere(value: int, what: str) -> None:
    """Raise the same GraphError on every rank unless every rank passed the same integer `value`."""
    v = np.array([value, -value], dtype=np.int64)
    comm.allreduce_array(v, "max")
    if v[0] != -v[1]:
        err = GraphError(f"{what}: the ranks built different graphs (hash {value:#x} on rank {comm.rank()}, "
                         f"hashes range {-v[1]:#x}..{v[0]:#x}); every rank must run the same script on the same graph")
        err.all_ranks = True  # type: ignore[attr-defined]
        raise err


def start_replicas(storage: Any, graph_hash: int, what: str) -> None:
    """Agree on the graph, then overwrite every rank's parameters and state with rank 0's (in place)."""
    if comm.size() <= 1:
        return
    same_everywhere(graph_hash, what)
    names = sorted(storage.keys())
    arrays = [storage.values[k] for k in names]
    if all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in arrays):
        comm.broadcast_arrays(arrays)
    else:  # device or strided arrays: through host copies
        host = [np.ascontiguousarray(np.asarray(a)) for a in arrays]
        comm.broadcast_arrays(host)
        for k, h in zip(names, host):
            storage.values[k][...] = h
    storage.version += 1


def check_step(where: str, graph_hash: int, local_batch: int) -> None:
    """One tiny max-reduction per step tells every rank whether all ranks run this graph on equal batch shards;
    on a mismatch every rank raises the same error (marked `all_ranks`), so none waits in the next collective."""
    v = np.array([graph_hash, -graph_hash, local_batch, -local_batch], dtype=np.int64)
    comm.allreduce_array(v, "max")
    err: Exception | None = None
    if v[0] != -v[1]:
        err = GraphError(f"{where}: the ranks run different graphs (graph hash {graph_hash:#x} on rank {comm.rank()}; "
                         f"hashes range {-v[1]:#x}..{v[0]:#x}); every rank must build and compile the same graph "
                         "with data_parallel=True")
    elif v[2] != -v[3]:
        err = ShapeError(f"{where}: uneven shards: rank {comm.rank()} of {comm.size()} has a batch of {local_batch} "
                         f"rows, the ranks range {-v[3]}..{v[2]}; feed every rank an equal share of the global batch "
                         "(gn.dist.shard)")
    if err is not None:
        err.all_ranks = True  # type: ignore[attr-defined]
        raise err


def agreement_tail(graph_hash: int, local_batch: int, dtype: np.dtype) -> np.ndarray:
    """The hash and batch size as base-16 digits d, then their squares d*d: summed over P ranks, every sum equals
    P times this rank's entry on every rank iff all ranks agree (a variance of 0), exactly in float32."""
    digits = np.array([(v >> (4 * j)) & 15 for v in (graph_hash, local_batch + 1) for j in range(16)], np.float64)
    return np.concatenate([digits, digits * digits]).astype(dtype)


def tail_exact(dtype: np.dtype, ranks: int) -> bool:
    """Sums of up to 15*15 per rank stay exact integers in this dtype (float32: 74,565 ranks; float16: 9)."""
    return ranks * 225 < 2 ** (np.finfo(dtype).nmant + 1)


def tail_mismatch(where: str, summed: np.ndarray, own: np.ndarray, local_batch: int) -> None:
    """Raise, on every rank alike, the error an all-reduced agreement tail shows (see backends/numpy/collective.py:
    16 hash digits, 16 batch digits, then their squares; `summed` is the sum over ranks, `own` this rank's)."""
    p = comm.size()
    summed, own = np.asarray(summed, np.float64), np.asarray(own, np.float64)
    bad = summed != own * p
    weights = 16.0 ** np.arange(16)
    if bad[:16].any() or bad[32:48].any():
        err: Exception = GraphError(
            f"{where}: the ranks run different graphs at this step (rank {comm.rank()} of {p} runs another "
            "data-parallel function than some rank); every rank must call the same functions in the same order")
    else:
        total = round(float(summed[16:32] @ weights)) - p  # each rank encodes its batch + 1
        err = ShapeError(f"{where}: uneven shards: rank {comm.rank()} of {p} has a batch of {local_batch} rows, the "
                         f"ranks' batches sum to {total}, not {p} x {local_batch}; feed every rank an equal share of "
                         "the global batch (gn.dist.shard)")
    err.all_ranks = True  # type: ignore[attr-defined]
    raise err
