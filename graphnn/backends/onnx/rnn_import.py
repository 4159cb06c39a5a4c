"""Import of ONNX's recurrent ops (LSTM, GRU, RNN) as `gn.scan`s over the cell in ordinary ops; registered in the
control_flow family's table (the ops they become). ONNX's gate orders: LSTM (i, o, f, c), GRU (z, r, h).

Imports graphnn.ir and the onnx room's import context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.builder import constant
from ...ir.errors import GraphError
from ...ir.graph import Value
from ...ir.ops import elementwise as ew
from ...ir.ops import reduction, shape_ops
from ...ir.ops.control_flow import scan_values
from .import_context import Importer

DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
ACTS: dict[str, Callable[[Value], Value]] = {"Sigmoid": ew.sigmoid, "Tanh": ew.tanh, "Relu": ew.relu}


def _opt(imp: Importer, n: Any, k: int) -> Value | None:
    return imp.value(n.input[k]) if len(n.input) > k and n.input[k] else None


def import_recurrent(imp: Importer, n: Any, attrs: dict) -> list:
    """LSTM (peepholes included) / GRU / RNN without clip, sequence_lens or input_forget: one scan per direction."""
    kind = n.op_type
    for key in ("clip", "activation_alpha", "activation_beta"):
        if key in attrs:
            raise GraphError(f"{kind} with {key} is not imported")
    if attrs.get("input_forget", 0):
        raise GraphError("LSTM with input_forget=1 is not imported")
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    dirs = 2 if direction == "bidirectional" else 1
    acts = acts or DEFAULT_ACTS[kind] * dirs
    if any(a not in ACTS for a in acts):
        raise GraphError(f"{kind} activations {acts}: only {sorted(ACTS)} are imported")
    hsize = int(attrs["hidden_size"])
    layout = int(attrs.get("layout", 0))
    x = imp.value(n.input[0])
    if layout:
        x = shape_ops.transpose(x, (1, 0, 2))  # batch-first -> time-major
    w, r, b = imp.value(n.input[1]), imp.value(n.input[2]), _opt(imp, n, 3)
    h0, c0 = _opt(imp, n, 5), _opt(imp, n, 6) if kind == "LSTM" else None
    if layout:
        h0 = shape_ops.transpose(h0, (1, 0, 2)) if h0 is not None else None
        c0 = shape_ops.transpose(c0, (1, 0, 2)) if c0 is not None else None
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind] * hsize
    zero = shape_ops.broadcast_to(constant(0.0, dtype=x.dtype, graph=x.graph), (x.shape[1], hsize))
    lens = _opt(imp, n, 4)
    mask = None
    if lens is not None:  # step t of row b counts while t < sequence_lens[b]; later steps keep the carry, output 0
        one = constant(1.0, dtype=x.dtype, graph=x.graph)
        steps = reduction.cumsum(shape_ops.broadcast_to(one, (x.shape[0],)), axis=0, exclusive=True)
        below = ew.less(shape_ops.unsqueeze(steps, 1), shape_ops.unsqueeze(ew.cast(lens, x.dtype), 0))
        mask = shape_ops.unsqueeze(ew.cast(below, x.dtype), 2)  # (T, B, 1)
    ys, hs, cs = [], [], []
    per = len(acts) // dirs
    for d in range(dirs):
        wd, rd = w[d], r[d]
        wb = b[d, :gates] if b is not None else None
        rb = b[d, gates:] if b is not None else None
        f = [ACTS[a] for a in acts[d * per:(d + 1) * per]]
        hd = h0[d] if h0 is not None else zero
        proj = x @ shape_ops.transpose(wd)
        reverse = direction == "reverse" or d == 1
        if kind == "LSTM":
            cd = c0[d] if c0 is not None else zero
            p = _opt(imp, n, 7)
            outs = _lstm(proj if wb is None else proj + (wb + rb), shape_ops.transpose(rd), hd, cd, hsize, f, reverse,
                         p[d] if p is not None else None, mask)
            cs.append(outs[1])
        elif kind == "GRU":
            outs = _gru(proj if wb is None else proj + wb, shape_ops.transpose(rd), rb, hd, hsize, f, reverse,
                        bool(attrs.get("linear_before_reset", 0)), mask)
        else:
            outs = _rnn(proj if wb is None else proj + (wb + rb), shape_ops.transpose(rd), hd, f, reverse, mask)
        hs.append(outs[0])
        ys.append(outs[-1])
    y = shape_ops.stack(ys, axis=1)  # (T, dirs, B, H)
    yh = shape_ops.stack(hs, axis=0)
    res = [y, yh] + ([shape_ops.stack(cs, axis=0)] if kind == "LSTM" else [])
    if layout:
        res = [shape_ops.transpose(y, (2, 0, 1, 3))] + [shape_ops.transpose(v, (1, 0, 2)) for v in res[1:]]
    return res[:len(n.output)]


def _lstm(xp: Value, rt: Value, h0: Value, c0: Value, h: int, f: list, reverse: bool, peep: Value | None,
          mask: Value | None) -> list[Value]:
    def lstm_cell(c: tuple, x: tuple) -> tuple:
        hp, cp = c
        z = x[0] + hp @ rt  # ONNX's gate blocks: i, o, f, c; peepholes (i, o, f) read the cell state
        zi, zo, zf = z[:, :h], z[:, h:2 * h], z[:, 2 * h:3 * h]
        if peep is not None:
            zi, zf = zi + peep[:h] * cp, zf + peep[2 * h:] * cp
        cn = f[0](zf) * cp + f[0](zi) * f[1](z[:, 3 * h:])
        if peep is not None:
            zo = zo + peep[h:2 * h] * cn
        hn = f[0](zo) * f[2](cn)
        return (hn, cn), (hn,)

    outs = _masked_scan(lstm_cell, [h0, c0], xp, mask, reverse)
    return [outs[0], outs[1], outs[2]]


def _gru(xp: Value, rt: Value, rb: Value | None, h0: Value, h: int, f: list, reverse: bool,
         linear_before_reset: bool, mask: Value | None) -> list[Value]:
    def gru_cell(c: tuple, x: tuple) -> tuple:
        (hp,) = c
        xt = x[0]
        gh = hp @ rt[:, :2 * h] if rb is None else hp @ rt[:, :2 * h] + rb[:2 * h]  # ONNX's gate blocks: z, r, h
        zr = xt[:, :2 * h] + gh
        z, r = f[0](zr[:, :h]), f[0](zr[:, h:])
        rbh = rb[2 * h:] if rb is not None else None
        if linear_before_reset:
            lin = hp @ rt[:, 2 * h:]
            n = f[1](xt[:, 2 * h:] + r * (lin + rbh if rbh is not None else lin))
        else:
            lin = (r * hp) @ rt[:, 2 * h:]
            n = f[1](xt[:, 2 * h:] + (lin + rbh if rbh is not None else lin))
        hn = n + z * (hp - n)
        return (hn,), (hn,)

    outs = _masked_scan(gru_cell, [h0], xp, mask, reverse)
    return [outs[0], outs[1]]


def _rnn(xp: Value, rt: Value, h0: Value, f: list, reverse: bool, mask: Value | None) -> list[Value]:
    def rnn_cell(c: tuple, x: tuple) -> tuple:
        hn = f[0](x[0] + c[0] @ rt)
        return (hn,), (hn,)

    outs = _masked_scan(rnn_cell, [h0], xp, mask, reverse)
    return [outs[0], outs[1]]


def _masked_scan(cell: Callable[..., Any], init: list[Value], xp: Value, mask: Value | None, reverse: bool) -> list:
    """scan(cell) over xp; with a (T, B, 1) step mask, masked steps keep the carry and output zeros."""
    if mask is None:
        return scan_values(cell, init, [xp], reverse, cell.__name__)

    def masked(c: tuple, x: tuple) -> tuple:
        new, ys = cell(c, x[:1])
        m = x[1]
        return tuple(p + m * (q - p) for p, q in zip(c, new)), tuple(y * m for y in ys)

    masked.__name__ = cell.__name__
    return scan_values(masked, init, [xp, mask], reverse, cell.__name__)
