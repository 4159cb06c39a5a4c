"""The distributed side of `gn.train.fit(..., distributed=True)`: each rank trains on its shard of every global
batch (the epoch order is the one-process order), validation sums are reduced across ranks, and only rank 0
prints, draws the progress bar and writes checkpoints. User-level library: may import anything from graphnn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..distributed import comm
from .data import DataError, batches, take


def check_batches(n: int, batch_size: int, ranks: int) -> None:
    """Every global batch of the epoch (the last, shorter one too) must split evenly over the ranks; said up
    front, on every rank alike, instead of failing midway."""
    sizes = {min(batch_size, n - lo) for lo in range(0, n, batch_size)}
    bad = sorted(s for s in sizes if s % ranks)
    if bad:
        err = DataError(f"fit(distributed=True): global batches of {bad} rows do not split evenly over {ranks} ranks "
                        f"({n} rows, batch_size={batch_size}); choose a batch size and a row count divisible by "
                        f"{ranks} (e.g. drop the last {n % batch_size} rows)")
        err.all_ranks = True  # type: ignore[attr-defined]
        raise err


def local_batch(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """This rank's contiguous shard of every array of a global batch."""
    return {k: comm.shard(a) for k, a in batch.items()}


def evaluate(eval_fn: Callable[..., dict], names: list[str], arrays: dict[str, np.ndarray],
             batch_size: int) -> dict[str, float]:
    """Batch-size-weighted means of `names` over all rows: each rank evaluates a contiguous part, the sums meet."""
    n = len(next(iter(arrays.values())))
    lo, hi = (n * comm.rank()) // comm.size(), (n * (comm.rank() + 1)) // comm.size()
    sums = np.zeros(len(names) + 1)
    for idx in batches(hi - lo, batch_size):
        out = eval_fn(**take(arrays, idx + lo))
        sums[:-1] += [float(out[k]) * len(idx) for k in names]
        sums[-1] += len(idx)
    total = comm.allreduce(sums)
    return {k: float(total[i] / total[-1]) for i, k in enumerate(names)}


def is_chief() -> bool:
    """Rank 0 prints, draws the progress bar and writes checkpoints."""
    return comm.rank() == 0


def say_nothing(*args: Any, **kw: Any) -> None:
    """What ranks other than 0 print."""
