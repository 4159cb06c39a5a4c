"""Saving and loading parameters and training state: one `.npz` (read with allow_pickle=False) holding the
arrays, the graph's JSON form and a JSON metadata record; written atomically (temp file, fsync, rename).

User-level library: may import anything from graphnn.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

from ..ir.errors import GraphnnError
from ..ir.graph import Graph
from ..ir.serialize import to_json

_GRAPH_KEY = "__graph_json__"
_META_KEY = "__meta_json__"
_ARRAY_PREFIX = "v:"


class CheckpointError(GraphnnError):
    """A checkpoint file that cannot be read or does not match the graph."""


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def atomic_write(path: str, write: Any) -> None:
    """Call `write(fileobj)` on a temp file next to `path`, fsync it, then rename it over `path`.

    A crash before the rename leaves the previous file untouched; the rename itself is atomic on POSIX.
    """
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _names(g: Graph, include_state: bool) -> list[str]:
    vals = g.params + (g.state if include_state else [])
    return [v.name for v in vals]


def save(g: Graph, path: str, *, include_state: bool = True, meta: dict | None = None,
         names: list[str] | None = None) -> None:
    """Write the graph's parameter (and state) values, its JSON form and `meta` to `path` atomically."""
    names = names if names is not None else _names(g, include_state)
    arrays = {_ARRAY_PREFIX + n: np.asarray(g.storage[n]) for n in names}
    arrays[_GRAPH_KEY] = _text_array(to_json(g, include_values=False))
    arrays[_META_KEY] = _text_array(json.dumps(meta or {}))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read(path: str) -> tuple[dict[str, np.ndarray], str, dict]:
    """The arrays, graph JSON text and metadata stored in a checkpoint (no pickle)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k[len(_ARRAY_PREFIX):]: z[k] for k in z.files if k.startswith(_ARRAY_PREFIX)}
            graph_json = bytes(z[_GRAPH_KEY]).decode("utf-8") if _GRAPH_KEY in z.files else ""
            meta = json.loads(bytes(z[_META_KEY]).decode("utf-8")) if _META_KEY in z.files else {}
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {e}") from None
    return arrays, graph_json, meta


def check_match(g: Graph, arrays: dict[str, np.ndarray], path: str, names: list[str]) -> None:
    """Raise CheckpointError listing every missing, unexpected or differently shaped/typed entry."""
    problems = []
    missing = [n for n in names if n not in arrays]
    unexpected = sorted(set(arrays) - set(names))
    if missing:
        problems.append(f"missing from the checkpoint: {', '.join(missing)}")
    if unexpected:
        problems.append(f"in the checkpoint but not in graph {g.name!r}: {', '.join(unexpected)}")
    for n in names:
        if n in arrays:
            want, got = g.storage[n], arrays[n]
            if want.shape != got.shape or want.dtype != got.dtype:
                problems.append(f"{n}: graph has {want.dtype.name}{list(want.shape)}, "
                                f"checkpoint has {got.dtype.name}{list(got.shape)}")
    if problems:
        raise CheckpointError(f"checkpoint {path!r} does not match graph {g.name!r}:\n  " + "\n  ".join(problems))


def load(g: Graph, path: str, *, include_state: bool = True, names: list[str] | None = None) -> dict:
    """Copy values from `path` into the graph's storage (in place) after checking they all match; returns meta."""
    arrays, _, meta = read(path)
    names = names if names is not None else _names(g, include_state)
    if not include_state:
        state_names = {s.name for s in g.state}
        arrays = {k: v for k, v in arrays.items() if k not in state_names}
    check_match(g, arrays, path, names)
    _write(g, names, arrays)
    return meta


def _write(g: Graph, names: list[str], arrays: dict[str, np.ndarray]) -> None:
    for n in names:
        np.copyto(g.storage.values[n], arrays[n])  # in place: compiled functions keep their references
    g.storage.version += 1


def save_params(g: Graph, path: str) -> None:
    """Save the graph's parameters (not its optimizer/statistics state) with its JSON form to `path`."""
    save(g, path, include_state=False)


def load_params(g: Graph, path: str) -> None:
    """Load parameters saved by `save_params` (or a full checkpoint) into the graph, checking names and shapes."""
    load(g, path, include_state=False)
