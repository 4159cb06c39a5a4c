"""Saving and loading a model's values: one `.npz` (npzfile.py: atomic, read closed) holding the arrays, the
graph's JSON form and a JSON metadata record. A model's state is its parameters and running statistics (every
state value but the optimizer's slots); a load checks the whole file against the graph before writing anything.

User-level library: may import anything from graphnn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..ir.errors import GraphnnError
from ..ir.graph import Graph
from ..ir.serialize import from_json, to_json
from .npzfile import CheckpointError, atomic_write, read_arrays, scan

_GRAPH_KEY = "__graph_json__"
_META_KEY = "__meta_json__"
_ARRAY_PREFIX = "v:"
_TEXT = {_GRAPH_KEY, _META_KEY}

__all__ = ["CheckpointError", "atomic_write", "load", "load_model", "load_params", "model_state", "optimizer_slots",
           "read", "save", "save_model", "save_params"]


def optimizer_slots(g: Graph) -> list[str]:
    """Names of the state values optimizers own (moments, step counters, learning rates)."""
    slots = set(g.meta.get("optimizer_slots", ()))
    return [v.name for v in g.state if v.name in slots]


def model_state(g: Graph) -> list[str]:
    """The model's state: parameters and every state value that is not an optimizer slot (running statistics)."""
    slots = set(optimizer_slots(g))
    return [v.name for v in g.params] + [v.name for v in g.state if v.name not in slots]


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def save(g: Graph, path: str, *, include_state: bool = True, meta: dict | None = None,
         names: list[str] | None = None) -> None:
    """Write parameters and state (`include_state=False`: the model's state only, no optimizer slots), the
    graph's JSON form and `meta` to `path` atomically."""
    if names is None:
        names = [v.name for v in g.params + g.state] if include_state else model_state(g)
    arrays = {_ARRAY_PREFIX + n: np.asarray(g.storage[n]) for n in names}
    arrays[_GRAPH_KEY] = _text_array(to_json(g, include_values=False))
    arrays[_META_KEY] = _text_array(json.dumps(meta or {}))
    atomic_write(path, lambda f: np.savez(f, **arrays))


@dataclass
class Contents:
    """What a checkpoint declares, read from its headers and text members only (no array data yet)."""

    path: str
    heads: dict[str, tuple[tuple[int, ...], np.dtype]]  # value name -> declared (shape, dtype)
    graph_json: str
    meta: dict
    slots: set[str] = field(default_factory=set)  # names the file's graph marks as optimizer slots

    def arrays(self, names: list[str]) -> dict[str, np.ndarray]:
        got = read_arrays(self.path, [_ARRAY_PREFIX + n for n in names])
        return {n: got[_ARRAY_PREFIX + n] for n in names}


def open_checkpoint(path: str) -> Contents:
    """The declared contents of `path`; anything malformed is one CheckpointError line naming the file."""
    heads = scan(str(path), _TEXT)
    texts = read_arrays(str(path), [k for k in _TEXT if k in heads])
    bad = [k for k in heads if k not in _TEXT and not k.startswith(_ARRAY_PREFIX)]
    if bad:
        raise CheckpointError(f"checkpoint {str(path)!r}: unexpected entries {bad}")
    try:
        graph_json = bytes(texts[_GRAPH_KEY]).decode("utf-8") if _GRAPH_KEY in texts else ""
        meta = json.loads(bytes(texts[_META_KEY]).decode("utf-8")) if _META_KEY in texts else {}
        slots = set(json.loads(graph_json).get("optimizer_slots", ())) if graph_json else set()
    except (UnicodeDecodeError, ValueError, AttributeError, TypeError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r}: unreadable graph or metadata record ({e})") from None
    if not isinstance(meta, dict) or not all(isinstance(s, str) for s in slots):
        raise CheckpointError(f"checkpoint {str(path)!r}: the metadata record is not a JSON object")
    arrays = {k[len(_ARRAY_PREFIX):]: h for k, h in heads.items() if k.startswith(_ARRAY_PREFIX)}
    return Contents(str(path), arrays, graph_json, meta, slots)


def read(path: str) -> tuple[dict[str, np.ndarray], str, dict]:
    """The arrays, graph JSON text and metadata stored in a checkpoint (no pickle; sizes checked first)."""
    c = open_checkpoint(path)
    return c.arrays(list(c.heads)), c.graph_json, c.meta


def plan_load(g: Graph, c: Contents, *, whole: bool) -> list[str]:
    """The names to copy from `c` into `g`, after checking everything fits (raises CheckpointError otherwise).

    The model's state must all be there. `whole`: the graph's optimizer slots are loaded when the file has
    them all, kept when it has none; entries the graph lacks are errors. Not `whole` (parameters only):
    optimizer slots in the file, this graph's or the file graph's, are ignored."""
    required = model_state(g)
    slots = optimizer_slots(g)
    present = [s for s in slots if s in c.heads]
    problems = []
    names = list(required)
    if whole:
        if present and len(present) != len(slots):
            problems.append(f"optimizer state incomplete: has {', '.join(present)}, lacks "
                            f"{', '.join(s for s in slots if s not in c.heads)}")
        names += present
        ignorable: set[str] = set()
    else:
        ignorable = set(slots) | c.slots
    missing = [n for n in required if n not in c.heads]
    unexpected = sorted(set(c.heads) - set(names) - ignorable)
    if missing:
        problems.append(f"missing from the checkpoint: {', '.join(missing)}")
    if unexpected:
        problems.append(f"in the checkpoint but not in graph {g.name!r}: {', '.join(unexpected)}")
    for n in names:
        if n in c.heads:
            want = g.storage[n]
            shape, dtype = c.heads[n]
            if want.shape != shape or want.dtype != dtype:
                problems.append(f"{n}: graph has {want.dtype.name}{list(want.shape)}, "
                                f"checkpoint has {dtype.name}{list(shape)}")
    if problems:
        raise CheckpointError(f"checkpoint {c.path!r} does not match graph {g.name!r}: " + "; ".join(problems))
    return names


def write_values(g: Graph, arrays: dict[str, np.ndarray]) -> None:
    """Copy checked arrays into the graph's storage in place (compiled functions keep their references)."""
    for n, a in arrays.items():
        np.copyto(g.storage.values[n], a)
    g.storage.version += 1


def load(g: Graph, path: str, *, include_state: bool = True, names: list[str] | None = None) -> dict:
    """Copy values from `path` into the graph's storage after checking they all fit; returns the metadata.
    A failing load writes nothing."""
    c = open_checkpoint(path)
    todo = plan_load(g, c, whole=include_state) if names is None else _exact(g, c, names)
    write_values(g, c.arrays(todo))
    return c.meta


def _exact(g: Graph, c: Contents, names: list[str]) -> list[str]:
    bad = [n for n in names if n not in c.heads or c.heads[n] != (g.storage[n].shape, g.storage[n].dtype)]
    if bad:
        raise CheckpointError(f"checkpoint {c.path!r}: missing or mismatched: {', '.join(bad)}")
    return list(names)


def save_params(g: Graph, path: str) -> None:
    """Save the model's state (parameters and running statistics; no optimizer slots) with its JSON form."""
    save(g, path, include_state=False)


def load_params(g: Graph, path: str) -> None:
    """Load a model's state from any checkpoint file (save_params, gn.save, a trainer's) into `g`; optimizer
    slots in the file are ignored, so a full training checkpoint loads into a freshly built graph."""
    load(g, path, include_state=False)


def save_model(g: Graph, path: str) -> None:
    """`gn.save`: the whole model in one file: the graph's JSON form, its parameters and all its state."""
    save(g, path, include_state=True, meta={"format": "graphnn-model/1"})


def load_model(path: str) -> Graph:
    """`gn.load`: the graph saved by `gn.save` (or any checkpoint of this library) with its values, ready to
    compile (for inference: `gn.compile(g, mode="eval")` computes the outputs it was saved with)."""
    c = open_checkpoint(path)
    if not c.graph_json:
        raise CheckpointError(f"checkpoint {c.path!r}: holds no graph (written by an old version?)")
    try:
        g = from_json(c.graph_json, source=c.path)
    except GraphnnError as e:
        raise CheckpointError(f"checkpoint {c.path!r}: its graph is invalid: {e}") from None
    decl = {v.name: v for v in g.params + g.state}
    for name, v in decl.items():
        if not v.type.is_static:
            raise CheckpointError(f"checkpoint {c.path!r}: {name} has symbolic shape {v.type}")
    absent = [n for n in decl if n not in c.heads]
    if absent and set(absent) <= c.slots:
        raise CheckpointError(f"checkpoint {c.path!r} holds the model's state without its optimizer slots (a "
                              f"save_params file): load it into a built graph with gn.load_params, or save whole "
                              f"models with gn.save")
    problems = [f"{n} (missing)" for n in absent]
    problems += [f"{n} (not in the graph)" for n in c.heads if n not in decl]
    problems += [f"{n}: graph has {v.type}, file has {c.heads[n][1].name}{list(c.heads[n][0])}" for n, v in decl.items()
                 if n in c.heads and c.heads[n] != (tuple(v.type.shape), np.dtype(v.type.dtype))]
    if problems:
        raise CheckpointError(f"checkpoint {c.path!r}: values do not match its graph: {', '.join(problems)}")
    for n, a in c.arrays(list(decl)).items():
        g.storage[n] = a
    return g
