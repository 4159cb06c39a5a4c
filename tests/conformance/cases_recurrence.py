"""Conformance cases for `scan` (issue 17): a carried tanh recurrence closing over a weight, with a stacked output."""

from __future__ import annotations

import numpy as np

import graphnn as gn

from .cases import Case, In


def _rnn(x: gn.Value, h0: gn.Value, w: gn.Value) -> gn.Value:
    def body(h: gn.Value, xt: gn.Value) -> tuple[gn.Value, gn.Value]:
        h2 = gn.tanh(h @ w + xt)
        return h2, h2 * h2
    _, ys = gn.scan(body, h0, x)
    return ys


def _np_rnn(x: np.ndarray, h0: np.ndarray, w: np.ndarray) -> np.ndarray:
    h, ys = h0, []
    for t in range(x.shape[0]):
        h = np.tanh(h @ w + x[t])
        ys.append(h * h)
    return np.stack(ys)


def _final(x: gn.Value, h0: gn.Value) -> gn.Value:
    (h, s), _ = gn.scan(lambda c, xt: ((gn.tanh(c[0]) + xt, c[1] + c[0] * xt), None), (h0, h0), x)
    return h * s


def _np_final(x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    h, s = h0, h0
    for t in range(x.shape[0]):
        h, s = np.tanh(h) + x[t], s + h * x[t]
    return h * s


CASES: list[Case] = [
    Case("scan", (In((5, "B", 4)), In(("B", 4)), In((4, 4))), _rnn, _np_rnn, "rnn"),
    Case("scan", (In((3, 4)), In((4,))), _final, _np_final, "tuple-carry"),
]
