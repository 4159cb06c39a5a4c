"""The rough edges a new user hits: Value method forms against NumPy, gn.train.predict (batched, eval mode, host
arrays) against a plain NumPy forward pass, gn.trace's batch size (symbolic on request, a FeedError that says how),
and one progress line per epoch when the output is not a terminal."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import graphnn as gn


def test_value_method_forms_match_numpy() -> None:
    X = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    with gn.Graph("m") as g:
        x = gn.input("x", (2, 3, 4), "float32")
        outs = {"mean": x.mean(), "sum1": x.sum(1), "max": x.max(axis=2, keepdims=True), "min": x.min(0),
                "T": x.T, "tr": x.transpose(1, 0, 2), "tr2": x.transpose((2, 0, 1)), "flat": x.flatten(),
                "am": x.argmax(), "rs": x.reshape(6, 4), "sumk": x.sum(axis=(0, 2), keepdims=True)}
    got = gn.compile(g, outputs=outs)(x=X)
    ref = {"mean": X.mean(), "sum1": X.sum(1), "max": X.max(axis=2, keepdims=True), "min": X.min(0), "T": X.T,
           "tr": X.transpose(1, 0, 2), "tr2": X.transpose(2, 0, 1), "flat": X.reshape(-1), "am": X.argmax(-1),
           "rs": X.reshape(6, 4), "sumk": X.sum(axis=(0, 2), keepdims=True)}
    for k, r in ref.items():
        np.testing.assert_allclose(np.asarray(got[k]), r, rtol=1e-5, atol=1e-6, err_msg=k)


def _mlp() -> tuple[gn.Value, gn.Value, list, gn.nn.Dropout]:
    with gn.Graph("clf"):
        x = gn.input("x", (None, 5), "float32")
        y = gn.input("y", (None,), "int64")
        l1, l2, drop = gn.nn.Linear(5, 8), gn.nn.Linear(8, 3), gn.nn.Dropout(0.5)
        logits = l2(drop(gn.relu(l1(x))))
        loss = gn.cross_entropy(gn.softmax(logits), y)
    return logits, loss, [l1, l2], drop


def test_predict_batches_in_eval_mode_and_returns_host_arrays() -> None:
    logits, loss, (l1, l2), _ = _mlp()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((37, 5)).astype(np.float32)
    Y = rng.integers(0, 3, 37)
    hist = gn.train.fit(loss, {"x": X, "y": Y}, gn.optim.SGD(0.1), epochs=1, batch_size=8, progress=False,
                        verbose=False)
    s = loss.graph.storage
    w1, b1, w2, b2 = (np.asarray(s[p.name]) for p in l1.params + l2.params)
    h = np.maximum(X @ w1 + b1.reshape(-1), 0)  # eval mode: dropout is the identity
    ref_logits = h @ w2 + b2.reshape(-1)
    e = np.exp(ref_logits - ref_logits.max(1, keepdims=True))
    got = gn.train.predict(logits, X, batch_size=10)
    assert isinstance(got, np.ndarray) and got.shape == (37, 3)
    np.testing.assert_allclose(got, ref_logits, rtol=1e-4, atol=1e-5)
    probs = gn.train.predict(hist.trainer, X, batch_size=16)  # a trainer predicts its loss's first operand
    np.testing.assert_allclose(probs, e / e.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gn.train.predict(hist, {"x": X}), probs, rtol=1e-6)
    with pytest.raises(gn.FeedError, match="batch_size must be positive"):
        gn.train.predict(logits, X, batch_size=0)
    with pytest.raises(gn.FeedError, match="missing"):
        gn.train.predict(logits, {"z": X})


def test_trace_batch_size_symbolic_on_request_and_the_error_says_how() -> None:
    def f(x: gn.Value) -> gn.Value:
        return (x * 2.0).sum(axis=1)

    fixed = gn.compile(gn.trace(f, {"x": np.ones((4, 3), np.float32)}))
    with pytest.raises(gn.FeedError, match="symbolic_batch=True"):
        fixed(x=np.ones((8, 3), np.float32))
    free = gn.compile(gn.trace(f, {"x": np.ones((4, 3), np.float32)}, symbolic_batch=True))
    X = np.arange(24, dtype=np.float32).reshape(8, 3)
    np.testing.assert_allclose(np.asarray(free(x=X)["out"]), (X * 2).sum(1))


def test_progress_to_a_non_terminal_is_one_line_per_epoch(monkeypatch, capsys) -> None:
    _, loss, _, _ = _mlp()
    rng = np.random.default_rng(2)
    monkeypatch.setattr("sys.stderr", io.StringIO())  # a CI log, not a terminal
    gn.train.fit(loss, {"x": rng.standard_normal((40, 5)).astype(np.float32), "y": rng.integers(0, 3, 40)},
                 gn.optim.SGD(0.1), epochs=3, batch_size=8, progress=True, verbose=True)
    out = capsys.readouterr().out
    assert sys.stderr.getvalue() == ""  # no bar redrawn into the log
    lines = [ln for ln in out.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == ["1/3", "2/3", "3/3"]
