"""Resume works from every file the public API writes; a failing resume or load changes no value, epoch or
step; stale temp files of killed writers are removed by the next write to the same path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphnn as gn
from graphnn import nn

RNG = np.random.default_rng(7)
X = RNG.normal(size=(48, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
DATA = {"x": X, "y": Y}


def trainer(hidden: int = 8) -> gn.train.Trainer:
    with gn.Graph("clf"):
        x = gn.input("x", (None, 4))
        y = gn.input("y", (None,), "int64")
        logits = nn.Sequential(nn.Linear(4, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 2))(x)
        loss = gn.cross_entropy(gn.softmax(logits), y)
    return gn.train.Trainer(loss, gn.optim.Adam(0.02))


def fit(tr: gn.train.Trainer, epochs: int, **kw: object) -> gn.train.History:
    return tr.fit(DATA, epochs=epochs, batch_size=16, progress=False, verbose=False, **kw)


def snapshot(tr: gn.train.Trainer) -> dict:
    s = tr.graph.storage
    return {"arrays": {k: np.array(s[k]) for k in s.keys()}, "epoch": tr.epoch, "step": tr.global_step,
            "history": len(tr.history.epochs)}


def assert_same(a: dict, b: dict) -> None:
    assert (a["epoch"], a["step"], a["history"]) == (b["epoch"], b["step"], b["history"])
    assert a["arrays"].keys() == b["arrays"].keys()
    for k in a["arrays"]:
        np.testing.assert_array_equal(a["arrays"][k], b["arrays"][k], err_msg=k)


def test_resume_from_public_save_checkpoint(tmp_path: Path) -> None:
    """Trainer.save_checkpoint(p) (no generator given) then fit(resume=p): continues from its epoch."""
    tr = trainer()
    fit(tr, 2)
    path = str(tmp_path / "ck.npz")
    tr.save_checkpoint(path)
    want = snapshot(tr)
    tr2 = trainer()
    h = fit(tr2, 3, resume=path)
    assert len(h.epochs) == 3 and tr2.epoch == 3 and tr2.global_step == want["step"] + 3
    tr3 = trainer()
    tr3.load_checkpoint(path)
    assert_same(snapshot(tr3), want)


@pytest.mark.parametrize("writer", ["checkpoint.save", "save_params", "gn.save"])
def test_load_checkpoint_from_model_files_keeps_the_position(tmp_path: Path, writer: str) -> None:
    src = trainer()
    fit(src, 2)
    path = str(tmp_path / "m.npz")
    {"checkpoint.save": lambda: gn.checkpoint.save(src.graph, path), "save_params": lambda: gn.save_params(
        src.graph, path), "gn.save": lambda: gn.save(src.graph, path)}[writer]()
    tr = trainer()
    fit(tr, 1)
    epoch, step = tr.epoch, tr.global_step
    slots_before = {n: np.array(tr.graph.storage[n]) for n in gn.checkpoint.optimizer_slots(tr.graph)}
    tr.load_checkpoint(path)
    assert (tr.epoch, tr.global_step) == (epoch, step)
    for n in gn.checkpoint.model_state(tr.graph):
        np.testing.assert_array_equal(tr.graph.storage[n], src.graph.storage[n], err_msg=n)
    if writer == "save_params":  # no optimizer slots in the file: this trainer's are kept
        for n, a in slots_before.items():
            np.testing.assert_array_equal(tr.graph.storage[n], a, err_msg=n)
    fit(tr, 3, resume=path)
    assert tr.epoch == 3


def test_failing_resume_changes_nothing(tmp_path: Path) -> None:
    other = trainer(hidden=5)
    fit(other, 1)
    path = str(tmp_path / "other.npz")
    other.save_checkpoint(path)
    tr = trainer()
    fit(tr, 2)
    before = snapshot(tr)
    with pytest.raises(gn.CheckpointError, match=r"does not match graph 'clf'.*graph has float32\[4, 8\]"):
        fit(tr, 4, resume=path)
    assert_same(snapshot(tr), before)
    with pytest.raises(gn.CheckpointError):
        tr.load_checkpoint(path)
    assert_same(snapshot(tr), before)


def test_bad_metadata_is_refused_before_any_write(tmp_path: Path) -> None:
    tr = trainer()
    fit(tr, 1)
    path = str(tmp_path / "bad.npz")
    gn.checkpoint.save(tr.graph, path, meta={"epoch": "three", "global_step": 1})
    fit(tr, 2)
    before = snapshot(tr)
    with pytest.raises(gn.CheckpointError, match="bad.npz.*epoch 'three'"):
        tr.load_checkpoint(path)
    assert_same(snapshot(tr), before)
    gn.checkpoint.save(tr.graph, path, meta={"epoch": 1, "global_step": 1, "rng": {"bit_generator": "nope"}})
    with pytest.raises(gn.CheckpointError, match="random-generator state"):
        fit(tr, 3, resume=path)
    assert_same(snapshot(tr), before)


def test_stale_temp_of_a_killed_writer_is_removed_by_the_next_write(tmp_path: Path) -> None:
    tr = trainer()
    path = tmp_path / "ck.npz"
    killed = textwrap.dedent(f"""
        import os, numpy as np
        from graphnn.training import npzfile
        def dies(f):
            f.write(b"x" * 1_000_000)
            f.flush()
            os._exit(9)  # killed mid-write: no cleanup runs
        npzfile.atomic_write({str(path)!r}, dies)
    """)
    proc = subprocess.run([sys.executable, "-c", killed], timeout=120)
    assert proc.returncode == 9
    stale = [f for f in os.listdir(tmp_path) if f != "ck.npz"]
    assert len(stale) == 1 and os.path.getsize(tmp_path / stale[0]) == 1_000_000
    tr.save_checkpoint(str(path))
    assert os.listdir(tmp_path) == ["ck.npz"]
    (tmp_path / "other.npz.123.tmp").write_bytes(b"not ours")  # temps of other paths are left alone
    tr.save_checkpoint(str(path))
    assert sorted(os.listdir(tmp_path)) == ["ck.npz", "other.npz.123.tmp"]
