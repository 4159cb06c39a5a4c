"""The fused path for recurrent-layer `scan` nodes: the cell bodies gn.nn.LSTM, GRU and RNN trace (defined here:
`lstm_body`, `gru_body`, `rnn_body`) and `fused_scan`, which picks the hand-written loops of recurrent_loops.py
for a scan (forward, forward with residuals, or its gradient's reverse scan) of one of them.

The body graph stays the specification: a scan runs fused only when its body is, op for op (attrs, constants,
inputs by position), the body a reference scan of the cell has (plain, extended with its residuals by the
gradient rule, or that gradient's reverse scan), traced here once per (cell, hidden, dtype); anything else, a
user-written body included, runs the generic planned body (control_flow.py). Imports graphnn.ir only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ...ir import subgraph
from ...ir.builder import input as graph_input
from ...ir.graph import Graph, Value
from ...ir.op_registry import get_op
from ...ir.ops import elementwise as ew
from ...ir.ops.control_flow import scan
from .recurrent_loops import LOOPS

Kernel = Callable[..., Any]


def lstm_body(h: int, whh: Value, names: dict[str, str] | None = None) -> Callable[..., Any]:
    """The LSTM cell on carry (h, c) and x_t = the step's input projection (gates i, f, g, o); `names`, when
    given, records the body value names of the intermediates the fused path can hand out as residuals."""

    def lstm_cell(carry: tuple[Value, Value], x: Value) -> tuple[tuple[Value, Value], Value]:
        hp, cp = carry
        z = x + hp @ whh
        # sigmoid, whose gradient reads only its output: the backward keeps 5 values per step (i, f, o, tanh(g),
        # tanh(c)) where tanh-spelled gates kept 8
        i, f, o = (ew.sigmoid(z[:, a * h:(a + 1) * h]) for a in (0, 1, 3))
        tg = ew.tanh(z[:, 2 * h: 3 * h])
        c = f * cp + i * tg
        tc = ew.tanh(c)
        hn = o * tc
        if names is not None:
            named = {"i": i, "f": f, "o": o, "tg": tg, "c": c, "tc": tc, "h": hn}
            names.update({v.name: k for k, v in named.items()})
        return (hn, c), hn

    return lstm_cell


def rnn_body(whh: Value, act: Callable[[Value], Value] = ew.tanh,
             names: dict[str, str] | None = None) -> Callable[..., Any]:
    """The Elman cell h' = act(x_t + h·W_hh) (x_t the step's input projection with both biases)."""

    def rnn_cell(h: Value, x: Value) -> tuple[Value, Value]:
        h2 = act(x + h @ whh)
        if names is not None:
            names[h2.name] = "h"
        return h2, h2

    return rnn_cell


def gru_body(h: int, whh: Value, bhh: Value, names: dict[str, str] | None = None) -> Callable[..., Any]:
    """The GRU cell (PyTorch's gates r, z, n) on x_t = the step's input projection with b_ih; W_hh and b_hh
    captured. sigmoid, whose gradient reads only its output."""

    def gru_cell(hp: Value, x: Value) -> tuple[Value, Value]:
        gh = hp @ whh + bhh
        rz = ew.sigmoid(x[:, : 2 * h] + gh[:, : 2 * h])
        r, z = rz[:, :h], rz[:, h:]
        ghn = gh[:, 2 * h:]
        n = ew.tanh(x[:, 2 * h:] + r * ghn)
        d = hp - n
        hn = n + z * d
        if names is not None:
            named = {"rz": rz, "r": r, "z": z, "ghn": ghn, "n": n, "d": d, "h": hn}
            names.update({v.name: k for k, v in named.items()})
        return hn, hn

    return gru_cell


def _canon(g: Graph) -> tuple:
    """The structure of a body: per node its op, attrs and inputs by position (graph inputs by index, dtype and
    rank; constants by value), then the outputs by position. Names and locations are left out. O(n + E)."""
    key: dict[int, tuple] = {v.id: ("in", k, v.dtype, v.ndim) for k, v in enumerate(g.inputs)}
    for v in g.const_values:
        a = g.constants[v.id]  # a host array (graph constants are NumPy's)
        key[v.id] = ("const", str(a.dtype), tuple(a.shape), a.tobytes())
    nodes = []
    for i, n in enumerate(g.nodes):
        nodes.append((n.op, repr(sorted(n.attrs.items())), tuple(key.get(v.id, ("?", v.id)) for v in n.inputs)))
        for j, o in enumerate(n.outputs):
            key[o.id] = ("n", i, j)
    return tuple(key[v.id] for v in g.inputs), tuple(nodes), tuple(key.get(v.id) for v in g.outputs.values())


@functools.lru_cache(maxsize=32)
def _reference(cell: str, hidden: int, dtype: str) -> dict[str, Any]:
    """Canonical bodies of a reference scan of `cell` ("lstm", "gru" or "rnn", tanh): plain ("infer"), extended with
    residuals ("fwd") and its gradient's reverse scan ("bwd"), and what each residual of the extension is."""
    names: dict[str, str] = {}
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    with Graph(f"{cell}_reference") as g:
        carry = tuple(graph_input(f"c{k}", (None, hidden), dtype) for k in range(2 if cell == "lstm" else 1))
        xs = graph_input("xs", (None, None, gates * hidden), dtype)
        whh = graph_input("whh", (hidden, gates * hidden), dtype)
        if cell == "lstm":
            body = lstm_body(hidden, whh, names)
        elif cell == "gru":
            body = gru_body(hidden, whh, graph_input("bhh", (gates * hidden,), dtype), names)
        else:
            body = rnn_body(whh, names=names)
        _, ys = scan(body, carry if cell == "lstm" else carry[0], xs)
        node = ys.producer
        gouts: list[Value | None] = [None] * len(node.outputs)
        gouts[len(carry)] = graph_input("gy", tuple(ys.shape), dtype)
        get_op("scan").grad(node, gouts)
    scans = [n for n in g.nodes if n.op == "scan"]
    fwd = next(n for n in scans if n.attrs["n_res"])
    bwd = next(n for n in scans if n.attrs["reverse"])
    ext = subgraph.decode(fwd.attrs["body"])
    res = [names.get(v.name, "") for k, v in ext.outputs.items() if k.startswith("res")]
    return {"infer": _canon(subgraph.decode(node.attrs["body"])), "fwd": _canon(ext), "res": res,
            "bwd": _canon(subgraph.decode(bwd.attrs["body"]))}


ENABLED = True  # tests switch it off to compare with the generic planned body


def fused_scan(xp: Any, node: Any) -> Kernel | None:
    """The fused kernel for a scan node whose body is a reference LSTM or tanh-RNN cell's (forward or backward),
    else None."""
    a = node.attrs
    body = subgraph.decode(a["body"])
    nc, n_in = a["n_carry"], len(body.inputs)
    # cheap gates first: a layer-tagged forward, or a gradient scan of its shape (the carried cotangents, W_hh)
    caps = n_in - nc - a["n_xs"]  # captures: W_hh (and the GRU's b_hh)
    if a.get("cell") in ("lstm", "gru") and n_in == 4:
        cell = a["cell"]
    elif a.get("cell") == "rnn" and a.get("activation") == "tanh" and n_in == 3:
        cell = "rnn"
    elif a["n_xs"] >= 3 and (nc, caps) in ((2, 1), (1, 1), (2, 2)):  # a gradient scan of one of them
        cell = {(2, 1): "lstm", (1, 1): "rnn", (2, 2): "gru"}[(nc, caps)]
    else:
        return None
    if not ENABLED or body.inputs[0].ndim != 2 or not body.inputs[0].type.is_float:
        return None
    hidden, dtype = body.inputs[0].shape[-1], body.inputs[0].dtype
    if not isinstance(hidden, int):
        return None
    ref = _reference(cell, hidden, dtype)
    c = _canon(body)
    keep = a.get("keep_saved", True)
    forward, backward = LOOPS[cell]
    if c == ref["infer"] or c == ref["fwd"]:
        res = ref["res"] if c == ref["fwd"] else []
        if not all(r in _FORWARD_RES[cell] for r in res):
            return None
        return forward(xp, hidden, a["reverse"], res, keep)
    if c == ref["bwd"] and not keep and _BACKWARD_RES[cell] <= set(ref["res"]):
        # (a kept stack of the cotangents is read by a second-order gradient: generic)
        return backward(xp, hidden, a["reverse"], ref["res"], keep)
    return None


_FORWARD_RES = {"lstm": ("i", "f", "tg", "o", "tc", "c", "h"), "rnn": ("h",),  # what the forward hands out
                "gru": ("rz", "r", "z", "ghn", "n", "d", "h")}
_BACKWARD_RES = {"lstm": {"i", "f", "tg", "o", "tc"}, "rnn": {"h"}, "gru": {"rz", "r", "z", "ghn", "n", "d"}}
