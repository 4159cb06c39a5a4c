"""gn.train: the loop, validation, early stopping, freezing, NaN guard, checkpoints, bad input, monitors."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import graphnn as gn
from graphnn import nn

RNG = np.random.default_rng(0)
N = 120
XS = RNG.normal(size=(N, 4)).astype(np.float32)
YS = (XS[:, 0] + XS[:, 1] > 0).astype(np.int64) + (XS[:, 2] > 1).astype(np.int64)  # 3 classes
DATA = {"x": XS, "y": YS}


def model(hidden: int = 16, dropout: float = 0.0, batch_norm: bool = False):
    with gn.Graph("clf") as g:
        x = gn.input("x", (None, 4))
        y = gn.input("y", (None,), "int64")
        layers = [nn.Linear(4, hidden)] + ([nn.BatchNorm1d(hidden)] if batch_norm else []) + [nn.ReLU()]
        layers += ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(hidden, 3)]
        net = nn.Sequential(*layers)
        logits = net(x)
        loss = gn.cross_entropy(gn.softmax(logits), y)
        acc = gn.train.accuracy(logits, y)
    return g, net, loss, acc


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
        logits = gn.log(h * h - 1e30)  # NaN from the first step: log of a negative number
        loss = gn.cross_entropy(gn.softmax(logits), y)
    w0 = g.storage["linear/w"].copy()
    with pytest.raises(gn.NumericsError, match=r"node log .*test_fit.py:\d+") as e:
        gn.train.fit(loss, DATA, gn.optim.SGD(0.1), epochs=1, progress=False, verbose=False)
    assert "epoch 1, step 1" in str(e.value)
    assert np.array_equal(g.storage["linear/w"], w0)  # restored to the last finite values


def _train(tmp, epochs, resume=None, ckpt=None, dropout=0.3):
    g, net, loss, acc = model(dropout=dropout, batch_norm=True)
    tr = gn.train.Trainer(loss, gn.optim.Adam(0.02), metrics={"accuracy": acc})
    h = tr.fit(DATA, epochs=epochs, batch_size=16, validation_split=0.2, checkpoint=ckpt, resume=resume,
               progress=False, verbose=False, seed=5)
    return g, h


def test_checkpoint_resume_is_bit_identical(tmp_path) -> None:
    straight, h_straight = _train(tmp_path, 4)
    path = str(tmp_path / "ck.npz")
    _train(tmp_path, 2, ckpt=path)
    resumed, h_res = _train(tmp_path, 4, resume=path)
    assert [k for k in straight.storage.keys()] == [k for k in resumed.storage.keys()]
    for k in straight.storage.keys():
        assert np.array_equal(straight.storage[k], resumed.storage[k]), k
    assert h_res["loss"] == h_straight["loss"]
    assert not any(f.startswith(".tmp-") for f in os.listdir(tmp_path))


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch) -> None:
    g, net, loss, acc = model()
    path = str(tmp_path / "ck.npz")
    gn.save_params(g, path)
    good = open(path, "rb").read()

    def crash(f, **arrays):
        f.write(b"partial garbage")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np, "savez", crash)
    g.storage["sequential/linear/w"][...] = 7.0
    with pytest.raises(KeyboardInterrupt):
        gn.save_params(g, path)
    assert open(path, "rb").read() == good
    assert os.listdir(tmp_path) == ["ck.npz"]


def test_save_load_params_roundtrip_and_no_pickle(tmp_path) -> None:
    g, net, loss, acc = model()
    path = str(tmp_path / "p.npz")
    gn.save_params(g, path)
    orig = {k: g.storage[k].copy() for k in g.storage.keys()}
    for k in g.storage.keys():
        g.storage[k][...] = 0
    gn.load_params(g, path)
    for p in g.params:
        assert np.array_equal(g.storage[p.name], orig[p.name])
    with np.load(path, allow_pickle=False) as z:
        graph_json = json.loads(bytes(z["__graph_json__"]).decode())
    assert graph_json["name"] == "clf"


def test_mismatching_checkpoint_names_the_mismatches(tmp_path) -> None:
    g, net, loss, acc = model(hidden=16)
    path = str(tmp_path / "p.npz")
    gn.save_params(g, path)
    g2, *_ = model(hidden=8)
    with pytest.raises(gn.CheckpointError, match=r"sequential/linear/w: graph has float32\[4, 8\], checkpoint "
                                                  r"has float32\[4, 16\]"):
        gn.load_params(g2, path)
    with gn.Graph("other") as g3:
        nn.Linear(4, 3, name="head")(gn.input("x", (None, 4)))
    with pytest.raises(gn.CheckpointError, match="missing from the checkpoint: head/w, head/b"):
        gn.load_params(g3, path)


@pytest.mark.parametrize("data, match", [
    ({"x": XS, "y": YS[:-1]}, "length mismatch: x has 120 rows, y has 119 rows"),
    ({"x": XS, "y": YS + 1}, r"labels 'y' range over \[1, 3\] .* 3 classes"),
    ({"x": np.where(np.arange(N)[:, None] == 7, np.nan, XS).astype(np.float32), "y": YS}, "NaN/inf.*row 7"),
    ({"x": XS.astype(np.float64), "y": YS}, "dtype float64.*astype\\('float32'\\)"),
    ({"x": XS}, "missing \\['y'\\]"),
    ({"x": XS[:, :3], "y": YS}, "shape \\(120, 3\\)"),
])
def test_bad_input_fails_before_the_first_step(data, match) -> None:
    g, net, loss, acc = model()
    before = {k: g.storage[k].copy() for k in g.storage.keys()}
    with pytest.raises(gn.train.DataError, match=match):
        gn.train.fit(loss, data, gn.optim.SGD(0.1), epochs=1, progress=False, verbose=False)
    for k, v in before.items():
        assert np.array_equal(g.storage[k], v)


def test_progress_works_without_tqdm(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    g, net, loss, acc = model()
    gn.train.fit(loss, DATA, gn.optim.SGD(0.1), epochs=2, progress=True, verbose=True)
    out = capsys.readouterr().out
    assert "epoch 1/2 loss=" in out and "epoch 2/2 loss=" in out


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
