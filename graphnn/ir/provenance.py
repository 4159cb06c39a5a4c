"""Provenance of nodes (user lines, labels, derivation, passes) and the parameter Storage a graph owns.

Split out of graph.py to keep it small; graph.py re-exports both. Imports nothing else from graphnn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Provenance:
    """Where a node came from: user lines, labels, the node ids it was derived from, and by which passes."""

    locations: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    derived_from: frozenset[int] = frozenset()
    passes: tuple[str, ...] = ()

    def merge(self, *others: "Provenance") -> "Provenance":
        locs, labels, der, passes = set(self.locations), set(self.labels), set(self.derived_from), list(self.passes)
        for o in others:
            locs |= o.locations
            labels |= o.labels
            der |= o.derived_from
            passes += [p for p in o.passes if p not in passes]
        return Provenance(frozenset(locs), frozenset(labels), frozenset(der), tuple(passes))

    @property
    def location(self) -> str:
        """The first user line, for messages (sorted so it is deterministic)."""
        return sorted(self.locations)[0] if self.locations else "<unknown>"

    def to_json(self) -> dict:
        return {
            "locations": sorted(self.locations),
            "labels": sorted(self.labels),
            "derived_from": sorted(self.derived_from),
            "passes": list(self.passes),
        }

    @staticmethod
    def from_json(d: dict) -> "Provenance":
        return Provenance(
            frozenset(d["locations"]), frozenset(d["labels"]), frozenset(d["derived_from"]), tuple(d["passes"])
        )


class Storage:
    """Parameter and state values owned by a graph and shared by every function compiled from it.

    A device backend (CuPy) that may hold newer values than these host arrays sets `host_sync`; every host
    access (`values`, `[name]`, assignment) calls it first, so readers never see stale parameters.
    """

    def __init__(self) -> None:
        self._values: dict[str, np.ndarray] = {}
        self.version = 0  # bumped on every write so device mirrors (CuPy) know when to refresh
        self.host_sync: Any = None  # () -> None: copy device-resident values back here (then unset)

    @property
    def values(self) -> dict[str, np.ndarray]:
        if self.host_sync is not None:
            self.host_sync()
        return self._values

    @values.setter
    def values(self, v: dict[str, np.ndarray]) -> None:
        if self.host_sync is not None:
            self.host_sync()
        self._values = v
        self.version += 1

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        self.values[name] = value
        self.version += 1

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def keys(self) -> Any:
        return self._values.keys()
