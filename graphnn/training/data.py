"""Checking training data against a graph before the first step, and splitting it into batches.

User-level library: may import anything from graphnn.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..ir.errors import FeedError
from ..ir.graph import Graph, Value
from ..ir.op_registry import registry

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")


class DataError(FeedError):
    """Training data that cannot be fed to the graph (found before any step runs)."""


def label_ranges(g: Graph) -> dict[str, tuple[int, str]]:
    """Integer inputs used as class labels -> (number of classes, the op that says so)."""
    out: dict[str, tuple[int, str]] = {}
    inputs = {v.id: v for v in g.inputs}
    ops = registry()
    for n in g.nodes:
        k = ops[n.op].labels
        if k is None or k >= len(n.inputs) or n.inputs[k].id not in inputs or n.inputs[k].dtype not in INT_DTYPES:
            continue
        depth = ops[n.op].class_count(n)
        if isinstance(depth, int):
            out[n.inputs[k].name] = (depth, f"{n.name} at {n.location}")
    return out


def check_data(g: Graph, data: Mapping[str, Any], what: str = "training data",
               needed: list[Value] | None = None) -> dict[str, np.ndarray]:
    """Arrays for every needed input, checked for names, equal lengths, dtype, shape, finiteness, label range."""
    if not isinstance(data, Mapping):
        raise DataError(f"{what} must be a dict of arrays keyed by input name, got {type(data).__name__}")
    inputs = needed if needed is not None else g.inputs
    names = [v.name for v in inputs]
    missing = [n for n in names if n not in data]
    unknown = sorted(set(data) - {v.name for v in g.inputs})
    if missing or unknown:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unknown {unknown}"] if unknown else [])
        raise DataError(f"{what}: {'; '.join(parts)}; the graph's inputs are {[v.name for v in g.inputs]}")
    arrays = {n: np.asarray(data[n]) for n in names}
    lengths = {n: (a.shape[0] if a.ndim else None) for n, a in arrays.items()}
    if any(v is None for v in lengths.values()):
        raise DataError(f"{what}: every array needs a leading example axis; got shapes "
                        f"{ {n: a.shape for n, a in arrays.items()} }")
    if len(set(lengths.values())) > 1:
        raise DataError(f"{what}: length mismatch: " + ", ".join(f"{n} has {k} rows" for n, k in lengths.items())
                        + "; features and labels need one row per example")
    if next(iter(lengths.values()), 1) == 0:
        raise DataError(f"{what} is empty")
    ranges = label_ranges(g)
    for v in inputs:
        a, t = arrays[v.name], v.type
        if a.dtype.name != t.dtype:
            raise DataError(f"{what}: {v.name!r} has dtype {a.dtype.name}, the graph input {v.name}: {t} needs "
                            f"{t.dtype}; convert it once with .astype({t.dtype!r})")
        if a.ndim != t.rank or any(isinstance(d, int) and d != k for d, k in zip(t.shape[1:], a.shape[1:])):
            raise DataError(f"{what}: {v.name!r} has shape {a.shape}, the graph input is {t}")
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a)
            if bad.any():
                rows = np.nonzero(bad.reshape(len(a), -1).any(axis=1))[0]
                raise DataError(f"{what}: {v.name!r} holds {int(bad.sum())} NaN/inf value(s), first in row "
                                f"{int(rows[0])} ({len(rows)} rows affected)")
        if v.name in ranges:
            depth, where = ranges[v.name]
            lo, hi = int(a.min()), int(a.max())
            if lo < 0 or hi >= depth:
                raise DataError(f"{what}: labels {v.name!r} range over [{lo}, {hi}] but {where} has {depth} "
                                f"classes (labels must lie in [0, {depth - 1}])")
    return arrays


def batches(n: int, batch_size: int, order: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Index arrays of consecutive batches (the last may be smaller)."""
    idx = np.arange(n) if order is None else order
    for start in range(0, n, batch_size):
        yield idx[start:start + batch_size]


def take(arrays: Mapping[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """Rows `idx` of every array (contiguous copies, ready to feed)."""
    return {k: np.ascontiguousarray(a[idx]) for k, a in arrays.items()}
