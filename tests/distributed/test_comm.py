"""gn.dist in one process: rank 0 of 1 without a launcher or without mpi4py; sharding arithmetic and errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphnn as gn
from graphnn.distributed import comm


def test_one_process_is_rank_0_of_1_without_starting_mpi(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(comm, "_state", {"resolved": False, "comm": None})
    assert (gn.dist.rank(), gn.dist.size()) == (0, 1)
    a = np.arange(12).reshape(6, 2)
    assert gn.dist.shard(a) is not None and np.array_equal(gn.dist.shard(a), a)


def test_without_mpi4py_a_launched_process_still_reports_rank_0_of_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `from mpi4py import MPI` raises ImportError
    monkeypatch.setattr(comm, "_state", {"resolved": False, "comm": None})
    assert (gn.dist.rank(), gn.dist.size()) == (0, 1)


def test_shard_bounds_split_evenly_and_refuse_what_does_not_divide() -> None:
    assert [comm.shard_bounds(12, 3, r) for r in range(3)] == [(0, 4), (4, 8), (8, 12)]
    with pytest.raises(gn.ShapeError, match=r"global batch of 10 rows does not split evenly over 3 ranks"):
        comm.shard_bounds(10, 3, 0)


def test_shard_along_another_axis_and_scalars() -> None:
    a = np.arange(24).reshape(2, 12)
    assert np.array_equal(gn.dist.shard(a, axis=1), a)  # one rank: all of it
    with pytest.raises(gn.ShapeError, match="scalar"):
        gn.dist.shard(np.float64(1.0))
