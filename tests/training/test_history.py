"""The training record (training/history.py): per-epoch series by name, monitor series, the JSON round trip, the
JSONL log a fit writes, and the curve plot."""

from __future__ import annotations

import json
import math
import os

import pytest

import graphnn as gn
from graphnn.training.history import History, append_jsonl

from .util import DATA, model


def _history() -> History:
    return History(epochs=[{"epoch": 1, "loss": 2.0, "lr": 0.1}, {"epoch": 2, "loss": 1.5, "val_loss": 1.7, "lr": 0.05}],
                   monitors=[{"step": 0, "grad_norm/a": 3.0}, {"step": 4, "dead_relu/r": 0.5},
                             {"step": 8, "grad_norm/a": 1.0}])


def test_series_by_name_fill_missing_epochs_with_nan() -> None:
    h = _history()
    assert h["loss"] == [2.0, 1.5] and h["lr"] == [0.1, 0.05]
    first, second = h["val_loss"]
    assert math.isnan(first) and second == 1.7  # NaN where the epoch has no validation value
    assert h.keys() == ["epoch", "loss", "lr", "val_loss"]  # first-seen order


def test_unknown_series_names_the_recorded_ones() -> None:
    with pytest.raises(KeyError, match=r"'accuracy': history has \['epoch', 'loss', 'lr', 'val_loss'\]"):
        _history()["accuracy"]


def test_monitor_series_are_steps_and_values_of_one_key() -> None:
    h = _history()
    assert h.monitor("grad_norm/a") == ([0, 8], [3.0, 1.0])
    assert h.monitor("dead_relu/r") == ([4], [0.5])
    assert h.monitor("absent") == ([], [])


def test_dict_round_trip_through_json() -> None:
    h = _history()
    h.stopped_early, h.best_epoch = True, 1
    back = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back == h
    assert History.from_dict({}) == History()


def test_append_jsonl_writes_one_line_per_record_and_nothing_without_a_directory(tmp_path) -> None:
    log = str(tmp_path / "logs")
    append_jsonl(log, "h.jsonl", {"a": 1})
    append_jsonl(log, "h.jsonl", {"a": 2.5})
    with open(os.path.join(log, "h.jsonl")) as f:
        assert [json.loads(s) for s in f] == [{"a": 1}, {"a": 2.5}]
    append_jsonl(None, "h.jsonl", {"a": 3})
    append_jsonl("", "h.jsonl", {"a": 3})
    assert os.listdir(tmp_path) == ["logs"]


def test_fit_logs_each_epoch_record_of_its_history(tmp_path) -> None:
    g, net, loss, acc = model()
    log = str(tmp_path / "logs")
    h = gn.train.fit(loss, DATA, gn.optim.SGD(0.1), metrics={"accuracy": acc}, epochs=3, batch_size=40,
                     validation_split=0.25, log_dir=log, progress=False, verbose=False)
    with open(os.path.join(log, "history.jsonl")) as f:
        logged = [json.loads(s) for s in f]
    assert logged == h.epochs and [e["epoch"] for e in logged] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(logged[-1])


def test_plot_writes_a_png(tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib")
    path = _history().plot(str(tmp_path / "sub" / "curves.png"))
    assert path == str(tmp_path / "sub" / "curves.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
