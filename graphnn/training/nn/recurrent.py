"""Recurrent layers: RNN, LSTM, GRU (batch-first), each a `gn.scan` whose body is the cell in ordinary ops.

Weight layout and gate order are PyTorch's, so a `state_dict` copies over by name: per layer `k` (and
`_reverse` for the backward direction) `weight_ih_l{k}` (G·H, F), `weight_hh_l{k}` (G·H, H), `bias_ih_l{k}` and
`bias_hh_l{k}` (G·H,), with the G gate blocks stacked in the order LSTM (i, f, g, o), GRU (r, z, n), RNN (one).
The input projection of all steps is one matrix product before the scan; each step only multiplies the carry by
`weight_hh` (measured: benchmarks/lstm.py). The cell bodies are `lstm_body`, `gru_body` and `rnn_body` of
backends/numpy/recurrent_cell.py, whose scans (and their gradients) the NumPy backend runs as fused loops when a
body is exactly that cell's. User-level library: may import anything from graphnn.
"""

from __future__ import annotations

import math
from typing import Any

from ...backends.numpy.recurrent_cell import gru_body, lstm_body, rnn_body
from ...ir.builder import constant
from ...ir.errors import ShapeError
from ...ir.graph import Value
from ...ir.ops import elementwise as ew
from ...ir.ops import shape_ops
from ...ir.ops.control_flow import scan
from .module import Module, _feature_dim, _rng


def _tag(ys: Value, cell: str, hidden: int, **more: str) -> None:
    """Record on the scan node which layer cell it runs, so the ONNX exporter emits the LSTM/GRU/RNN op."""
    node = ys.producer
    if node is not None and node.op == "scan":
        node.attrs.update(cell=cell, hidden=hidden, **more)


def _uniform(name: str, bound: float) -> Any:
    """PyTorch's recurrent init, U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, seeded by the name."""

    def init(shape: tuple, dtype: str) -> Any:
        return _rng(name).uniform(-bound, bound, size=shape).astype(dtype)

    init.spec = f"uniform(-{bound:.4g}, {bound:.4g}, stream={name!r})"  # type: ignore[attr-defined]
    return init


class _Recurrent(Module):
    """Shared by RNN, LSTM and GRU: parameters per layer and direction, the layer/direction loop, the state."""

    gates = 1
    base_name = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bidirectional = int(num_layers), bool(bidirectional)
        self.weights: list[tuple[Value, Value, Value, Value]] = []  # per (layer, direction)

    def build(self, x: Value) -> None:
        if x.ndim != 3:
            raise ShapeError(f"{type(self).__name__} at {self.scope}: input {x.name} is {x.type}; "
                             "expected (batch, time, features) (batch-first)")
        f = _feature_dim(x, 2, type(self).__name__)
        if f != self.input_size:
            raise ShapeError(f"{type(self).__name__}({self.input_size}, {self.hidden_size}) at {self.scope}: "
                             f"input {x.name} has {f} features ({x.type})")
        h, g = self.hidden_size, self.gates * self.hidden_size
        bound = 1.0 / math.sqrt(h)
        dirs = 2 if self.bidirectional else 1
        for k in range(self.num_layers):
            n_in = self.input_size if k == 0 else h * dirs
            for d in range(dirs):
                sfx = f"l{k}" + ("_reverse" if d else "")
                shapes = {"weight_ih": (g, n_in), "weight_hh": (g, h), "bias_ih": (g,), "bias_hh": (g,)}
                self.weights.append(tuple(  # type: ignore[arg-type]
                    self.add_param(f"{p}_{sfx}", s, _uniform(f"{self.scope}/{p}_{sfx}", bound), x.dtype)
                    for p, s in shapes.items()))

    def forward(self, x: Value) -> Any:
        seq = shape_ops.transpose(x, (1, 0, 2))  # (T, B, F): scan runs over the leading axis
        zero = shape_ops.broadcast_to(constant(0.0, dtype=x.dtype, graph=x.graph), (x.shape[0], self.hidden_size))
        dirs = 2 if self.bidirectional else 1
        finals: list[tuple[Value, ...]] = []
        for k in range(self.num_layers):
            outs = []
            for d in range(dirs):
                w_ih, w_hh, b_ih, b_hh = self.weights[k * dirs + d]
                carry, ys = self._direction(seq, zero, w_ih, w_hh, b_ih, b_hh, reverse=bool(d))
                outs.append(ys)
                finals.append(carry)
            seq = outs[0] if dirs == 1 else shape_ops.concat(outs, axis=-1)
        out = shape_ops.transpose(seq, (1, 0, 2))
        state = tuple(shape_ops.stack([c[i] for c in finals], axis=0) for i in range(len(finals[0])))
        return out, (state if len(state) > 1 else state[0])

    def _direction(self, seq: Value, zero: Value, w_ih: Value, w_hh: Value, b_ih: Value, b_hh: Value,
                   reverse: bool) -> tuple[tuple[Value, ...], Value]:
        raise NotImplementedError


class RNN(_Recurrent):
    """Elman RNN, h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (or relu); `out, h_n = rnn(x)` like torch.nn.RNN."""

    base_name = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 nonlinearity: str = "tanh", **kw: Any) -> None:
        super().__init__(input_size, hidden_size, num_layers, bidirectional, **kw)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity is 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def _direction(self, seq: Value, zero: Value, w_ih: Value, w_hh: Value, b_ih: Value, b_hh: Value,
                   reverse: bool) -> tuple[tuple[Value, ...], Value]:
        xp = seq @ shape_ops.transpose(w_ih) + (b_ih + b_hh)
        whh = shape_ops.transpose(w_hh)
        act = ew.tanh if self.nonlinearity == "tanh" else ew.relu
        h, ys = scan(rnn_body(whh, act), zero, xp, reverse=reverse)
        _tag(ys, "rnn", self.hidden_size, activation=self.nonlinearity)
        return (h,), ys


class LSTM(_Recurrent):
    """LSTM with PyTorch's gates (i, f, g, o): `out, (h_n, c_n) = lstm(x)`, x (B, T, F), out (B, T, H·dirs)."""

    gates = 4
    base_name = "lstm"

    def _direction(self, seq: Value, zero: Value, w_ih: Value, w_hh: Value, b_ih: Value, b_hh: Value,
                   reverse: bool) -> tuple[tuple[Value, ...], Value]:
        h = self.hidden_size
        xp = seq @ shape_ops.transpose(w_ih) + (b_ih + b_hh)
        whh = shape_ops.transpose(w_hh)

        (hT, cT), ys = scan(lstm_body(h, whh), (zero, zero), xp, reverse=reverse)
        _tag(ys, "lstm", h)
        return (hT, cT), ys


class GRU(_Recurrent):
    """GRU with PyTorch's gates (r, z, n), n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)): `out, h_n = gru(x)`."""

    gates = 3
    base_name = "gru"

    def _direction(self, seq: Value, zero: Value, w_ih: Value, w_hh: Value, b_ih: Value, b_hh: Value,
                   reverse: bool) -> tuple[tuple[Value, ...], Value]:
        h = self.hidden_size
        xp = seq @ shape_ops.transpose(w_ih) + b_ih
        whh = shape_ops.transpose(w_hh)

        hT, ys = scan(gru_body(h, whh, b_hh), zero, xp, reverse=reverse)
        _tag(ys, "gru", h)
        return (hT,), ys
