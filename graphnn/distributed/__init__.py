"""Data parallelism on MPI (`gn.dist`): rank, size, batch sharding and the communicator the collective kernels use.

Imports graphnn.ir (errors) only; mpi4py is optional and imported lazily, only when launched under `mpiexec`.
"""

from __future__ import annotations

from .comm import (abort, allgather, allreduce, allreduce_array, barrier, broadcast_arrays, install_excepthook,
                   is_launched, rank, shard, shard_bounds, size)

__all__ = ["abort", "allgather", "allreduce", "allreduce_array", "barrier", "broadcast_arrays", "install_excepthook",
           "is_launched", "rank", "shard", "shard_bounds", "size"]
