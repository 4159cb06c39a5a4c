"""Lossless JSON form of a graph (structure, types, attributes, provenance, constants, initial values).

Imports nothing else from graphnn except sibling ir modules.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from .graph import Graph, Node, ParamInfo, Provenance, Value
from .op import freeze
from .types import TensorType

FORMAT = "graphnn-graph/1"


def _enc_array(a: np.ndarray) -> dict:
    # Shape from the array itself: np.ascontiguousarray turns a 0-d array into shape (1,).
    return {"dtype": a.dtype.name, "shape": list(np.shape(a)), "data": base64.b64encode(a.tobytes(order="C")).decode()}


def _dec_array(d: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["data"]), dtype=d["dtype"]).reshape(d["shape"]).copy()


def _enc_attr(v: Any) -> Any:
    if isinstance(v, tuple):
        return {"t": [_enc_attr(x) for x in v]}
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return {"f": repr(v)}
    return v


def _dec_attr(v: Any) -> Any:
    if isinstance(v, dict) and "t" in v:
        return tuple(_dec_attr(x) for x in v["t"])
    if isinstance(v, dict) and "f" in v:
        return float(v["f"])
    return freeze(v)


def to_dict(g: Graph, include_values: bool = True) -> dict:
    """The JSON-able form; `include_values=False` leaves parameter values out (they go to .npz)."""

    def val(v: Value) -> dict:
        return {"id": v.id, "name": v.name, "type": v.raw_type.to_json(), "kind": v.kind}

    return {
        "format": FORMAT,
        "name": g.name,
        "dim_alias": g.dim_alias,
        "inputs": [val(v) for v in g.inputs],
        "params": [val(v) for v in g.params],
        "state": [val(v) for v in g.state],
        "constants": [dict(val(v), data=_enc_array(g.constants[v.id])) for v in g.const_values],
        "param_info": {k: {"trainable": i.trainable, "init": None if i.init is None else str(i.init)}
                       for k, i in g.param_info.items()},
        "values": {k: _enc_array(a) for k, a in g.storage.values.items()} if include_values else None,
        "nodes": [
            {
                "id": n.id, "op": n.op, "name": n.name, "scope": n.scope,
                "inputs": [v.id for v in n.inputs], "outputs": [val(v) for v in n.outputs],
                "attrs": {k: _enc_attr(a) for k, a in n.attrs.items()},
                "prov": n.prov.to_json(), "tags": sorted(n.tags),
            }
            for n in g.nodes
        ],
        "outputs": {k: v.id for k, v in g.outputs.items()},
        "updates": {k: v.id for k, v in g.updates.items()},
    }


def to_json(g: Graph, include_values: bool = True) -> str:
    return json.dumps(to_dict(g, include_values), indent=1)


def from_dict(d: dict) -> Graph:
    if d.get("format") != FORMAT:
        raise ValueError(f"not a graphnn graph (format {d.get('format')!r})")
    g = Graph(d["name"])
    g.dim_alias = dict(d["dim_alias"])
    vals: dict[int, Value] = {}

    def mk(e: dict) -> Value:
        v = Value(e["id"], e["name"], TensorType.from_json(e["type"]), e["kind"], g)
        vals[v.id] = v
        g.names.add(v.name)
        return v

    g.inputs = [mk(e) for e in d["inputs"]]
    g.params = [mk(e) for e in d["params"]]
    g.state = [mk(e) for e in d["state"]]
    for e in d["constants"]:
        v = mk(e)
        arr = _dec_array(e["data"])
        arr.setflags(write=False)
        g.const_values.append(v)
        g.constants[v.id] = arr
    for k, i in d["param_info"].items():
        g.param_info[k] = ParamInfo(i["init"], i["trainable"])
    if d.get("values"):
        for k, a in d["values"].items():
            g.storage[k] = _dec_array(a)
    for e in d["nodes"]:
        outs = tuple(mk(o) for o in e["outputs"])
        n = Node(e["id"], e["op"], e["name"], tuple(vals[i] for i in e["inputs"]), outs,
                 {k: _dec_attr(a) for k, a in e["attrs"].items()}, Provenance.from_json(e["prov"]),
                 frozenset(e["tags"]), e["scope"])
        g.names.add(n.name)
        g.nodes.append(n)
        for o in outs:
            g.producer[o.id] = n
    g.outputs = {k: vals[i] for k, i in d["outputs"].items()}
    g.updates = {k: vals[i] for k, i in d.get("updates", {}).items()}
    _bump_ids(max(vals, default=0), max((n.id for n in g.nodes), default=0))
    return g


def _bump_ids(*seen: int) -> None:
    from . import graph as _graph

    top = max(seen)
    while True:
        i = _graph.next_id()
        if i > top:
            break


def from_json(text: str) -> Graph:
    return from_dict(json.loads(text))
