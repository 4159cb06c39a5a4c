"""gn.train (training/loop.py): the fit loop, validation, schedules, early stopping, freezing, NaN guard, progress."""

from __future__ import annotations

import inspect
import sys

import numpy as np
import pytest

import graphnn as gn
from graphnn import nn

from .util import DATA, XS, YS, N, model


def test_fit_learns_and_records_history() -> None:
    g, net, loss, acc = model()
    h = gn.train.fit(loss, DATA, gn.optim.Adam(0.05), metrics={"accuracy": acc}, epochs=15, batch_size=16,
                     validation_split=0.25, progress=False, verbose=False)
    assert len(h.epochs) == 15 and h["loss"][-1] < h["loss"][0]
    assert h["accuracy"][-1] > 0.8
    assert set(h.keys()) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    ev = h.trainer.evaluate({"x": XS[90:], "y": YS[90:]})
    assert ev["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-5)  # the split is the last 25%, unshuffled


def test_accuracy_metric_matches_numpy() -> None:
    g, net, loss, acc = model()
    tr = gn.train.Trainer(loss, gn.optim.SGD(0.0), metrics={"accuracy": acc})
    logits_fn = gn.compile(g, outputs={"z": g.value("sequential/linear_1/add")}, mode="eval")
    z = logits_fn(x=XS, y=YS)["z"]
    assert tr.evaluate(DATA, batch_size=N)["accuracy"] == pytest.approx(np.mean(z.argmax(1) == YS))


def test_schedule_sets_runtime_lr_per_epoch() -> None:
    g, net, loss, acc = model()
    sched = gn.optim.InverseTimeDecay(0.1, 1.0)
    h = gn.train.fit(loss, DATA, gn.optim.SGD(0.1), schedule=sched, epochs=4, progress=False, verbose=False)
    assert h["lr"] == pytest.approx([0.1 / (1 + e) for e in range(4)], rel=1e-6)


def test_early_stopping_restores_best() -> None:
    def run(epochs, es=None):
        g, net, loss, acc = model()
        tr = gn.train.Trainer(loss, gn.optim.SGD(1.0))  # large: validation loss soon gets worse
        h = tr.fit(DATA, epochs=epochs, batch_size=8, validation_split=0.3, early_stopping=es, progress=False,
                   verbose=False)
        return g, h

    g, h = run(40, gn.train.EarlyStopping("val_loss", patience=2))
    assert h.stopped_early and len(h.epochs) < 40
    best = int(np.argmin(h["val_loss"])) + 1
    assert h.best_epoch == best and len(h.epochs) == best + 2
    g_best, _ = run(best)  # training is deterministic: the same run stopped at the best epoch
    for p in g.params:
        np.testing.assert_array_equal(g.storage[p.name], g_best.storage[p.name])


def test_frozen_params_bit_identical() -> None:
    g, net, loss, acc = model()
    net[0].trainable = False
    before = g.storage["sequential/linear/w"].copy(), g.storage["sequential/linear/b"].copy()
    last = g.storage["sequential/linear_1/w"].copy()
    gn.train.fit(loss, DATA, gn.optim.Adam(0.05), epochs=3, progress=False, verbose=False)
    assert np.array_equal(g.storage["sequential/linear/w"], before[0])
    assert np.array_equal(g.storage["sequential/linear/b"], before[1])
    assert not np.array_equal(g.storage["sequential/linear_1/w"], last)


def test_explicit_param_subset() -> None:
    g, net, loss, acc = model()
    w0 = g.storage["sequential/linear/w"].copy()
    gn.train.fit(loss, DATA, gn.optim.SGD(0.1), params=net[2].params, epochs=2, progress=False, verbose=False)
    assert np.array_equal(g.storage["sequential/linear/w"], w0)


def test_nan_guard_names_first_nonfinite_node() -> None:
    with gn.Graph("bad") as g:
        x = gn.input("x", (None, 4))
        y = gn.input("y", (None,), "int64")
        h = nn.Linear(4, 3)(x)
        line = inspect.currentframe().f_lineno + 1  # the line of the log below
        logits = gn.log(h * h - 1e30)  # NaN from the first step: log of a negative number
        loss = gn.cross_entropy(gn.softmax(logits), y)
    w0 = g.storage["linear/w"].copy()
    with pytest.raises(gn.NumericsError, match=rf"node log .*test_loop.py:{line}\b") as e:
        gn.train.fit(loss, DATA, gn.optim.SGD(0.1), epochs=1, progress=False, verbose=False)
    assert "epoch 1, step 1" in str(e.value)
    assert np.array_equal(g.storage["linear/w"], w0)  # restored to the last finite values


def test_progress_works_without_tqdm(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    g, net, loss, acc = model()
    gn.train.fit(loss, DATA, gn.optim.SGD(0.1), epochs=2, progress=True, verbose=True)
    out = capsys.readouterr().out
    assert "epoch 1/2 loss=" in out and "epoch 2/2 loss=" in out
