"""Lossless JSON form of a graph (structure, types, attributes, provenance, constants, initial values).

Imports nothing else from graphnn except sibling ir modules.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from .errors import GraphError, GraphnnError
from .graph import Graph, Node, ParamInfo, Provenance, Value
from .op import freeze
from .op_registry import get_op
from .types import TensorType, normalize_dtype, parse_dim
from .value import reserve_ids
from .verify import verify

FORMAT = "graphnn-graph/1"


def _enc_array(a: np.ndarray) -> dict:
    # Shape from the array itself: np.ascontiguousarray turns a 0-d array into shape (1,).
    return {"dtype": a.dtype.name, "shape": list(np.shape(a)), "data": base64.b64encode(a.tobytes(order="C")).decode()}


def _dec_array(d: dict, t: TensorType | None = None) -> np.ndarray:
    """An encoded array; with `t`, its dtype and shape must be the declared type's (checked before decoding)."""
    if t is not None:
        _need(d["dtype"] == t.dtype and list(d["shape"]) == list(t.shape),
              f"stored array {d['dtype']}{d['shape']} does not match the declared type {t}")
    raw = base64.b64decode(d["data"], validate=True)
    return np.frombuffer(raw, dtype=normalize_dtype(d["dtype"])).reshape([int(n) for n in d["shape"]]).copy()


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
        "optimizer_slots": [n for n in g.meta.get("optimizer_slots", ()) if n in {v.name for v in g.state}],
    }


def to_json(g: Graph, include_values: bool = True) -> str:
    return json.dumps(to_dict(g, include_values), indent=1)


def from_dict(d: dict, source: str = "<graph json>") -> Graph:
    """The graph a `to_dict` record describes, checked whole (structure, types re-inferred, values' shapes);
    anything else is one GraphError line naming `source` and what is wrong."""
    try:
        g = _build(d)
        _check(g)
    except GraphnnError as e:
        raise GraphError(f"{source}: invalid graphnn graph: {_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - a malformed record fails in many ways; all are reported the same
        raise GraphError(f"{source}: invalid graphnn graph: {type(e).__name__}: {_line(e)}") from None
    return g


def _line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise GraphError(what)


def _build(d: Any) -> Graph:
    _need(isinstance(d, dict), f"not a JSON object but {type(d).__name__}")
    _need(d.get("format") == FORMAT, f"not a graphnn graph (format {str(d.get('format'))[:40]!r})")
    _need(isinstance(d["name"], str), "the graph name is not a string")
    g = Graph(d["name"])
    g.dim_alias = {str(k): parse_dim(v) for k, v in dict(d["dim_alias"]).items()}
    vals: dict[int, Value] = {}

    def mk(e: dict, kind: str | None) -> Value:
        _need(type(e["id"]) is int and e["id"] not in vals, f"value id {e['id']!r} is not a fresh integer")
        _need(isinstance(e["name"], str), f"value {e['id']}: name is not a string")
        _need(kind is None or e["kind"] == kind, f"value {e['name']!r}: kind {e['kind']!r}, expected {kind!r}")
        t = TensorType.from_json(e["type"])
        _need(normalize_dtype(t.dtype) == t.dtype, f"value {e['name']!r}: dtype {t.dtype!r}")
        v = Value(e["id"], e["name"], t, e["kind"], g)
        vals[v.id] = v
        g.names.add(v.name)
        return v

    g.inputs = [mk(e, "input") for e in d["inputs"]]
    g.params = [mk(e, "param") for e in d["params"]]
    g.state = [mk(e, "state") for e in d["state"]]
    names = [v.name for v in g.params + g.state]
    _need(len(set(names)) == len(names), "a parameter or state name is used twice")
    for e in d["constants"]:
        v = mk(e, "const")
        arr = _dec_array(e["data"], v.type)
        arr.setflags(write=False)
        g.const_values.append(v)
        g.constants[v.id] = arr
    for k, i in dict(d["param_info"]).items():
        g.param_info[str(k)] = ParamInfo(None if i["init"] is None else str(i["init"]), bool(i["trainable"]))
    if d.get("values"):
        byname = {v.name: v for v in g.params + g.state}
        extra = sorted(set(d["values"]) - set(byname))
        _need(not extra, f"values for names that are neither parameters nor state: {extra[:5]}")
        lacking = sorted(set(byname) - set(d["values"]))
        _need(not lacking, f"no values for: {lacking[:5]}")
        for k, a in d["values"].items():
            g.storage[k] = _dec_array(a, byname[k].type)
    for e in d["nodes"]:
        _need(type(e["id"]) is int and isinstance(e["op"], str) and isinstance(e["name"], str), "a malformed node")
        ins = []
        for i in e["inputs"]:
            _need(type(i) is int and i in vals, f"node {e['name']!r} reads undefined value id {i!r}")
            ins.append(vals[i])
        outs = tuple(mk(o, "node") for o in e["outputs"])
        n = Node(e["id"], e["op"], e["name"], tuple(ins), outs,
                 {str(k): _dec_attr(a) for k, a in dict(e["attrs"]).items()}, Provenance.from_json(e["prov"]),
                 frozenset(str(t) for t in e["tags"]), str(e["scope"]))
        g.names.add(n.name)
        g.nodes.append(n)
        for o in outs:
            g.producer[o.id] = n

    def ref(i: Any, what: str) -> Value:
        _need(type(i) is int and i in vals, f"{what} refers to undefined value id {i!r}")
        return vals[i]

    g.outputs = {str(k): ref(i, f"output {k!r}") for k, i in dict(d["outputs"]).items()}
    g.updates = {str(k): ref(i, f"update of {k!r}") for k, i in dict(d.get("updates") or {}).items()}
    slots = list(d.get("optimizer_slots") or [])
    _need(all(isinstance(s, str) for s in slots), "optimizer_slots is not a list of names")
    if slots:
        g.meta["optimizer_slots"] = slots
    reserve_ids(max(max(vals, default=0), max((n.id for n in g.nodes), default=0)))
    return g


def _check(g: Graph) -> None:
    """The verifier over the decoded graph; without stored values (a checkpoint's JSON) only their absence
    is allowed, so placeholders stand in for the duration of the check."""
    for n in g.nodes:  # unknown or missing attributes (the type rules check the values)
        get_op(n.op).normalize_attrs(dict(n.attrs))
    placeholders = [v.name for v in g.params + g.state if v.name not in g.storage]
    for n in placeholders:
        g.storage.values[n] = np.empty(0)
    try:
        verify(g)
    finally:
        for n in placeholders:
            del g.storage.values[n]




def from_json(text: str | bytes, source: str = "<graph json>") -> Graph:
    """The graph serialized in `text`; a malformed or forged one is a GraphError naming `source`, never code
    run or a Python exception from inside."""
    try:
        d = json.loads(text)
    except (ValueError, RecursionError, TypeError) as e:
        raise GraphError(f"{source}: not JSON: {_line(e)}") from None
    return from_dict(d, source)
