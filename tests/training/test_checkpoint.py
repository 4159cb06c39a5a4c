"""Checkpoints (training/checkpoint.py): bit-identical resume, atomic writes, save/load round trip without pickle,
mismatches named."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import graphnn as gn
from graphnn import nn

from .util import DATA, model


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
