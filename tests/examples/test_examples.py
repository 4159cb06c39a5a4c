"""Every example runs (on a reduced budget, except the README demo, which is checked at full budget)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def test_digits_mlp_full_budget_reaches_97_percent(tmp_path) -> None:
    res = load("digits_mlp").main(["--out", str(tmp_path)])
    assert res["test_accuracy"] >= 0.97
    assert res["seconds"] < 30
    assert {"curves.png", "params.npz", "logs"} <= set(os.listdir(tmp_path))
    assert os.path.getsize(tmp_path / "logs" / "monitors.jsonl") > 0


def test_digits_cnn_quick(tmp_path) -> None:
    res = load("digits_cnn").main(["--epochs", "1", "--out", str(tmp_path)])
    assert res["test_accuracy"] > 0.5  # one epoch: far above chance (0.1)
    assert (tmp_path / "curves.png").exists()


def test_universal_approximation_quick(tmp_path) -> None:
    res = load("universal_approximation").main(["--epochs", "60", "--out", str(tmp_path)])
    h = res["history"]
    assert h["loss"][-1] < 0.1 * h["loss"][0]
    assert (tmp_path / "fit.png").exists()


def test_maxout_unit_is_max_of_its_pieces(tmp_path) -> None:
    res = load("maxout").main(["--epochs", "20", "--out", str(tmp_path)])
    np.testing.assert_allclose(res["unit"], res["pieces"].max(axis=1), rtol=1e-5, atol=1e-5)
    assert (tmp_path / "maxout_unit.png").exists()


def test_transfer_learning_freezes_body(tmp_path) -> None:
    res = load("transfer_learning").main(["--epochs", "3", "--out", str(tmp_path)])
    assert res["body_unchanged"] is True
    assert res["acc_new"] > 0.5


def test_hyperparameter_search_quick(tmp_path) -> None:
    res = load("hyperparameter_search").main(["--epochs", "1", "--random", "2", "--out", str(tmp_path)])
    assert len(res["results"]) == 2 and (tmp_path / "results.json").exists()
    assert res["best"]["val_accuracy"] == max(r["val_accuracy"] for r in res["results"])
