"""Training monitors (training/monitor.py): outputs of the step, logged, equal to NumPy, usable in a user's step."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import graphnn as gn
from graphnn import nn

from .util import DATA, XS, YS, model


def test_monitors_are_outputs_of_the_step_and_logged(tmp_path) -> None:
    g, net, loss, acc = model()
    log = str(tmp_path / "logs")
    tr = gn.train.Trainer(loss, gn.optim.SGD(0.1), monitor="all", monitor_every=3, log_dir=log)
    assert tr.monitor_fn is not None and set(tr.monitors) <= set(tr.monitor_fn.graph.outputs)
    h = tr.fit(DATA, epochs=2, batch_size=20, progress=False, verbose=False)  # 12 steps -> 0, 3, 6, 9
    assert [m["step"] for m in h.monitors] == [0, 3, 6, 9]
    lines = [json.loads(s) for s in open(os.path.join(log, "monitors.jsonl"))]
    assert lines == h.monitors
    assert len(open(os.path.join(log, "history.jsonl")).readlines()) == 2
    assert {"grad_norm/sequential/linear", "weight_norm/sequential/linear_1", "update_ratio/sequential/linear",
            "dead_relu/sequential/relu", "nan_count"} <= set(h.monitors[0])
    # The weight norm is that of the weights the step read (before its update).
    png = h.plot(str(tmp_path / "curves.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_monitor_values_match_numpy() -> None:
    g, net, loss, acc = model()
    tr = gn.train.Trainer(loss, gn.optim.SGD(0.5), monitor=["grad_norm", "weight_norm", "update_ratio", "dead_relu"],
                          monitor_every=1)
    w0 = {k: g.storage[k].copy() for k in ("sequential/linear/w", "sequential/linear/b")}
    hidden = np.maximum(XS[:16] @ w0["sequential/linear/w"] + w0["sequential/linear/b"], 0)
    tr.train_step({"x": XS[:16], "y": YS[:16]})
    rec = tr.history.monitors[0]
    wn = np.sqrt(sum((v.astype(np.float64) ** 2).sum() for v in w0.values()))
    delta = np.sqrt(sum(((g.storage[k] - w0[k]).astype(np.float64) ** 2).sum() for k in w0))
    assert rec["weight_norm/sequential/linear"] == pytest.approx(wn, rel=1e-5)
    assert rec["update_ratio/sequential/linear"] == pytest.approx(delta / wn, rel=1e-4)
    assert rec["grad_norm/sequential/linear"] == pytest.approx(delta / 0.5, rel=1e-4)  # SGD: update = -lr * grad
    assert rec["dead_relu/sequential/relu"] == pytest.approx(np.mean(hidden.max(axis=0) <= 0))


def test_dead_relu_fraction_rises_with_a_huge_learning_rate() -> None:
    def dead_fractions(lr: float) -> list[float]:
        with gn.Graph("clf"):
            x = gn.input("x", (None, 4))
            y = gn.input("y", (None,), "int64")
            net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))
            loss = -gn.mean(gn.sum(gn.log_softmax(net(x)) * gn.one_hot(y, 3), axis=-1))
        h = gn.train.fit(loss, DATA, gn.optim.SGD(lr), monitor="dead_relu", monitor_every=1, epochs=3,
                         batch_size=16, progress=False, verbose=False, nan_guard=False)
        return h.monitor("dead_relu/sequential/relu")[1]

    calm, wild = dead_fractions(0.01), dead_fractions(10.0)
    assert wild[0] == 0.0 and np.mean(wild[-5:]) > 0.5  # huge steps push units where no input reaches them
    assert max(calm) < 0.1


def test_monitor_outputs_compile_into_a_user_step() -> None:
    g, net, loss, acc = model()
    opt = gn.optim.SGD(0.1)
    ups = opt.updates(loss)
    mons = gn.train.monitor_outputs(opt, ["grad_norm", "nan_count"])
    fn = gn.compile(g, outputs={"loss": loss, **mons}, updates=ups)
    out = fn(x=XS, y=YS)
    assert set(mons) == {"grad_norm/sequential/linear", "grad_norm/sequential/linear_1", "nan_count"}
    assert out["nan_count"] == 0.0 and out["grad_norm/sequential/linear"] > 0
