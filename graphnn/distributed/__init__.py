"""Data parallelism on MPI (`gn.dist`): rank, size, batch sharding and the communicator the collective kernels use.

Imports graphnn.ir (errors) only; mpi4py is optional and imported lazily, only when launched under `mpiexec`.
"""

from __future__ import annotations

from .comm import (
    abort,
    allgather,
    allreduce,
    allreduce_array,
    barrier,
    broadcast_arrays,
    iallreduce_array,
    install_excepthook,
    is_launched,
    rank,
    shard,
    shard_bounds,
    size,
)

__all__ = ["abort", "allgather", "allreduce", "allreduce_array", "barrier", "broadcast_arrays", "iallreduce_array",
           "install_excepthook", "is_launched", "rank", "shard", "shard_bounds", "size"]

# Under mpiexec, a rank that fails even before it first talks to MPI must still stop the others (they would wait
# in MPI_Init or the first collective forever): the hook is armed at import, and initializes MPI only to abort.
if is_launched():
    install_excepthook()
