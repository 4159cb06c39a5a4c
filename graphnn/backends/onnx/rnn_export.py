"""Export of gn.nn.LSTM / GRU / RNN scans to ONNX's `LSTM` / `GRU` / `RNN` ops, one op per layer (bidirectional too).

The layers tag their scan node (`attrs["cell"]`, `attrs["hidden"]`, for RNN `attrs["activation"]`); the `scan`
lowering asks `lower_recurrent` first and falls back to a generic `Scan` when the node does not have the form the
layer builds. The input projection the layer hoists out of the loop (`x @ W_ihᵀ + b`) is folded back into the
op's W and B when it is still there, so the projection nodes become dead and the exporter prunes them.
Gate orders: PyTorch LSTM (i, f, g, o) -> ONNX (i, o, f, c); GRU (r, z, n) -> (z, r, h), linear_before_reset=1.

Imports graphnn.ir and the onnx room's emitter.
"""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node, Value
from .emitter import Emitter

# ONNX gate block k is PyTorch gate block ORDER[cell][k]
ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}
ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _rows(cell: str, h: int) -> np.ndarray:
    """Row indices that reorder PyTorch's stacked gate blocks (G·H rows) into ONNX's."""
    return np.concatenate([np.arange(b * h, (b + 1) * h) for b in ORDER[cell]]).astype(np.int64)


def _transposed_param(v: Value) -> Value | None:
    """`v` if it is `transpose(w)` of a 2-D value `w`: returns `w` (so W is not transposed twice)."""
    p = v.producer
    if p is not None and p.op == "transpose" and tuple(p.attrs.get("perm", ())) == (1, 0):
        return p.inputs[0]
    return None


def _projection(xp: Value, gh: int) -> tuple[Value, Value, Value | None] | None:
    """(seq, Wᵀ, bias) when `xp` is `seq @ Wᵀ + bias` (or `seq @ Wᵀ`) with seq (T, B, F) and Wᵀ (F, G·H)."""
    p = xp.producer
    bias = None
    if p is not None and p.op == "add" and len(p.inputs) == 2:
        a, b = p.inputs
        if b.ndim == 1 and b.shape[0] == gh:
            p, bias = a.producer, b
        elif a.ndim == 1 and a.shape[0] == gh:
            p, bias = b.producer, a
        else:
            return None
    if p is None or p.op != "matmul" or len(p.inputs) != 2:
        return None
    seq, wt = p.inputs
    if seq.ndim != 3 or wt.ndim != 2 or wt.shape[1] != gh or seq.dtype != xp.dtype:
        return None
    return seq, wt, bias


def _saved_unused(e: Emitter, n: Node, nc: int) -> bool:
    """True when nothing reads the per-step carries a scan keeps for its gradient (an eval-mode graph)."""
    saved = {v.id for v in n.outputs[nc + 1:]}
    if any(v.id in saved for v in e.g.outputs.values()):
        return False
    return not any(v.id in saved for m in e.g.nodes for v in m.inputs)


def _fits(e: Emitter, n: Node) -> tuple[str, int, int] | None:
    """(cell, hidden, carries) when `n` is a tagged layer scan of the form the layer builds, else None."""
    cell, h = n.attrs.get("cell"), n.attrs.get("hidden")
    if n.op != "scan" or cell not in ORDER or not isinstance(h, int):
        return None
    nc = 2 if cell == "lstm" else 1
    gh = len(ORDER[cell]) * h
    if (n.attrs.get("n_carry") != nc or n.attrs.get("n_xs") != 1 or n.attrs.get("n_res", 0)
            or len(n.outputs) != 2 * nc + 1 or not _saved_unused(e, n, nc)):
        return None
    xp, caps = n.inputs[nc], list(n.inputs[nc + 1:])
    whh = [c for c in caps if c.ndim == 2 and tuple(c.shape) == (h, gh)]
    bhh = [c for c in caps if c.ndim == 1 and tuple(c.shape) == (gh,)]
    if len(whh) != 1 or len(bhh) != (1 if cell == "gru" else 0) or len(caps) != len(whh) + len(bhh):
        return None
    if xp.ndim != 3 or xp.shape[2] != gh or xp.dtype not in ("float32", "float64", "float16"):
        return None
    return cell, h, nc


def _partner(e: Emitter, n: Node) -> Node | None:
    """The reverse-direction scan of the same layer as forward scan `n` (same cell, same input sequence), when
    nothing between them reads `n`'s outputs: the two become one bidirectional op, emitted at the partner."""
    fit = _fits(e, n)
    if fit is None or n.attrs.get("reverse"):
        return None
    gh = len(ORDER[fit[0]]) * fit[1]
    proj = _projection(n.inputs[fit[2]], gh)
    if proj is None:
        return None
    mine = {v.id for v in n.outputs}
    nodes = e.g.nodes
    for m in nodes[nodes.index(n) + 1:]:
        if any(v.id in mine for v in m.inputs):
            return None
        if (m.op == "scan" and m.attrs.get("reverse") and _fits(e, m) == fit
                and m.attrs.get("activation") == n.attrs.get("activation")):
            other = _projection(m.inputs[fit[2]], gh)
            return m if other is not None and other[0] is proj[0] else None
    return None


def _operands(e: Emitter, n: Node, ins: list, cell: str, h: int, nc: int) -> tuple[str, list[str]]:
    """X, and [W, R, B, initial carries...] of one direction (each with a leading direction axis of 1)."""
    gh = len(ORDER[cell]) * h
    xp, caps = n.inputs[nc], list(n.inputs[nc + 1:])
    k_whh = next(k for k, c in enumerate(caps) if c.ndim == 2)
    k_bhh = [k for k, c in enumerate(caps) if c.ndim == 1]
    rows = e.i64(_rows(cell, h).tolist(), "gate_order")
    axis0 = e.i64([0], "axes")
    dt = xp.dtype

    def onnx_rows(name: str) -> str:  # reorder the gate blocks (axis 0) into ONNX's order
        return e.emit("Gather", [name, rows], axis=0)[0]

    proj = _projection(xp, gh)
    if proj is not None:
        seq, wt, bias = proj
        x = e.name(seq)
        w_src = _transposed_param(wt)
        w = e.name(w_src) if w_src is not None else e.emit("Transpose", [e.name(wt)], perm=[1, 0])[0]
        wb = onnx_rows(e.name(bias)) if bias is not None else e.const(np.zeros(gh), dt, "zero_bias")
    else:  # the projection is not recognizable: X is it, and W reorders the gates (a permutation matrix)
        x = e.name(xp)
        w = e.const(np.eye(gh, dtype=dt), dt, "identity")
        wb = e.const(np.zeros(gh), dt, "zero_bias")
    w = e.emit("Unsqueeze", [onnx_rows(w), axis0])[0]
    r_src = _transposed_param(caps[k_whh])
    r = e.name(r_src) if r_src is not None else e.emit("Transpose", [ins[nc + 1 + k_whh]], perm=[1, 0])[0]
    r = e.emit("Unsqueeze", [onnx_rows(r), axis0])[0]
    rb = onnx_rows(ins[nc + 1 + k_bhh[0]]) if k_bhh else e.const(np.zeros(gh), dt, "zero_bias")
    b = e.emit("Unsqueeze", [e.emit("Concat", [wb, rb], axis=0)[0], axis0])[0]
    return x, [w, r, b] + [e.emit("Unsqueeze", [ins[k], axis0])[0] for k in range(nc)]


def lower_recurrent(e: Emitter, n: Node, ins: list, outs: list) -> bool:
    """Emit ONNX's LSTM/GRU/RNN for a tagged recurrent-layer scan (a forward scan waits for its reverse partner:
    one bidirectional op per layer); False (nothing emitted) if it does not fit."""
    fit = _fits(e, n)
    if fit is None:
        return False
    cell, h, nc = fit
    pending: dict = e.__dict__.setdefault("_rnn_pending", {})
    partner = _partner(e, n)
    if partner is not None:
        pending[partner.id] = (n, ins, outs)
        return True
    dirs = [(n, ins, outs)] if n.id not in pending else [pending.pop(n.id), (n, ins, outs)]
    operands = [_operands(e, d, i, cell, h, nc) for d, i, _ in dirs]
    x = operands[0][0]
    if len(dirs) == 1:
        w, r, b, *init = operands[0][1]
        direction = "reverse" if n.attrs.get("reverse") else "forward"
    else:
        w, r, b, *init = (e.emit("Concat", list(parts), axis=0)[0] for parts in zip(*(o[1] for o in operands)))
        direction = "bidirectional"
    attrs: dict = {"hidden_size": h, "direction": direction}
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    if cell == "rnn":
        attrs["activations"] = ["Relu" if n.attrs.get("activation") == "relu" else "Tanh"] * len(dirs)
    y, *finals = e.emit(ONNX_OP[cell], [x, w, r, b, "", *init], 1 + nc, **attrs)
    for d, (_, _, o) in enumerate(dirs):  # Y (T, dirs, B, H), Y_h and Y_c (dirs, B, H)
        at = e.const(np.asarray(d, np.int64), "int64", "direction")
        e.emit("Gather", [y, at], [o[nc]], axis=1)
        for k in range(nc):
            e.emit("Gather", [finals[k], at], [o[k]], axis=0)
    return True
