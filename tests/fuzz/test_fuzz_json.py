"""Property: any mutation of a graph's JSON form either loads as a graph that passes the verifier, or is one
GraphError line naming the source; never another exception, never a hang. (Running a forged graph that
passes the verifier is outside this property: see the README's reliability section.)"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.ir.serialize import from_json, to_json
from tests.fuzz.conftest import only_graphnn_errors, time_limit


def _graph_text() -> str:
    with gn.Graph("fz") as g:
        x = gn.input("x", (None, 3))
        w = gn.param("w", (3, 2), init=np.arange(6, dtype=np.float32).reshape(3, 2) / 6)
        h = gn.softmax(gn.relu(x @ w) + 1.0)
        g.output("y", gn.sum(h, axis=1))
    return to_json(g)


TEXT = _graph_text()
RECORD = json.loads(TEXT)

leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                   st.text(max_size=12), st.lists(st.integers(-3, 10), max_size=4),
                   st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def _paths(x: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(x, dict):
        for k, v in x.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out += _paths(v, prefix + (i,))
    return out


PATHS = [p for p in _paths(RECORD) if p]


def _set(d: Any, path: tuple, value: Any, delete: bool) -> None:
    for k in path[:-1]:
        d = d[k]
    if delete and isinstance(d, dict):
        del d[path[-1]]
    else:
        d[path[-1]] = value


def _load_and_run(text: str | bytes) -> None:
    try:
        with time_limit(10):
            g = from_json(text, source="fuzz.json")
    except Exception as e:  # noqa: BLE001 - the property is about which exceptions appear
        only_graphnn_errors(e)
        assert str(e).startswith("fuzz.json: ") and "\n" not in str(e), e
        return
    stored = [p.name in g.storage for p in g.params + g.state]
    assert all(stored) or not any(stored)  # all values, or none (the checkpoint form)
    if all(stored):
        gn.verify(g)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), leaves, st.booleans()), min_size=1, max_size=3))
def test_structural_mutations(changes: list) -> None:
    d = json.loads(TEXT)
    for path, value, delete in changes:
        try:
            _set(d, path, value, delete)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier change removed the path
    _load_and_run(json.dumps(d))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(TEXT) - 1), st.binary(max_size=3), st.integers(0, 3)),
                min_size=1, max_size=4))
def test_byte_mutations(edits: list) -> None:
    data = bytearray(TEXT.encode())
    for pos, new, drop in edits:
        pos = min(pos, len(data))
        data[pos:pos + drop] = new
    _load_and_run(bytes(data))
