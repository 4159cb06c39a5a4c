"""A model's state is its parameters and running statistics: optimizer steps update the statistics, every
save/load keeps them, `gn.save`/`gn.load` carry a whole model into a fresh process, and a failing load
writes nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphnn as gn
from graphnn import nn

RNG = np.random.default_rng(3)
X = (RNG.normal(size=(64, 4)) * [1.0, 2.0, 0.5, 3.0] + [1.0, -2.0, 0.0, 5.0]).astype(np.float32)
Y = (X[:, 0] > 1).astype(np.int64)


def bn_model(name: str = "bnnet") -> tuple[gn.Graph, gn.Value, gn.Value]:
    """x -> BatchNorm1d -> Linear -> softmax cross-entropy; the statistics see x itself."""
    with gn.Graph(name) as g:
        x = gn.input("x", (None, 4))
        y = gn.input("y", (None,), "int64")
        logits = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2, init=gn.init.normal(seed=1)))(x)
        loss = gn.cross_entropy(gn.softmax(logits), y)
        g.output("logits", logits)
    return g, loss, logits


def stats(g: gn.Graph) -> tuple[np.ndarray, np.ndarray]:
    return g.storage["sequential/batch_norm1d/running_mean"], g.storage["sequential/batch_norm1d/running_var"]


def test_optimizer_updates_include_running_statistics() -> None:
    """PyTorch's train mode: running = 0.9 running + 0.1 batch statistic (unbiased variance)."""
    g, loss, _ = bn_model()
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.Adam(0.01).updates(loss))
    fn(x=X, y=Y)
    mean, var = stats(g)
    np.testing.assert_allclose(mean, 0.1 * X.mean(0), rtol=1e-5)
    np.testing.assert_allclose(var, 0.9 + 0.1 * X.var(0, ddof=1), rtol=1e-5)
    fn(x=X[:32], y=Y[:32])
    np.testing.assert_allclose(stats(g)[0], 0.9 * 0.1 * X.mean(0) + 0.1 * X[:32].mean(0), rtol=1e-5)


def _train(g: gn.Graph, loss: gn.Value, steps: int = 30) -> None:
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.Adam(0.05).updates(loss))
    for _ in range(steps):
        fn(x=X, y=Y)


def test_save_params_keeps_running_statistics(tmp_path: Path) -> None:
    g, loss, logits = bn_model()
    _train(g, loss)
    want = gn.compile(g, mode="eval")(x=X)["logits"]
    path = str(tmp_path / "p.npz")
    gn.save_params(g, path)
    g2, _, _ = bn_model()
    gn.load_params(g2, path)
    np.testing.assert_array_equal(stats(g2)[0], stats(g)[0])
    np.testing.assert_array_equal(gn.compile(g2, mode="eval")(x=X)["logits"], want)


def test_save_load_model_in_a_fresh_process(tmp_path: Path) -> None:
    g, loss, logits = bn_model()
    _train(g, loss)
    want = gn.compile(g, mode="eval")(x=X)["logits"]
    path = tmp_path / "model.npz"
    gn.save(g, str(path))
    np.save(tmp_path / "x.npy", X)
    script = textwrap.dedent(f"""
        import numpy as np, graphnn as gn
        g = gn.load({str(path)!r})
        out = gn.compile(g, mode="eval")(x=np.load({str(tmp_path / 'x.npy')!r}))["logits"]
        np.save({str(tmp_path / 'out.npy')!r}, out)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), want)


def test_trainer_checkpoint_loads_into_a_fresh_graph_for_inference(tmp_path: Path) -> None:
    g, loss, logits = bn_model()
    tr = gn.train.Trainer(loss, gn.optim.Adam(0.05))
    tr.fit({"x": X, "y": Y}, epochs=3, batch_size=16, progress=False, verbose=False)
    path = str(tmp_path / "full.npz")
    tr.save_checkpoint(path)
    want = gn.compile(g, mode="eval")(x=X)["logits"]
    fresh, _, _ = bn_model()  # no optimizer: its slots in the file are not this graph's
    gn.load_params(fresh, path)
    np.testing.assert_array_equal(gn.compile(fresh, mode="eval")(x=X)["logits"], want)


def test_old_style_file_without_statistics_is_refused(tmp_path: Path) -> None:
    g, loss, _ = bn_model()
    path = str(tmp_path / "params_only.npz")
    gn.checkpoint.save(g, path, names=[p.name for p in g.params])
    g2, _, _ = bn_model()
    before = {k: g2.storage[k].copy() for k in g2.storage.keys()}
    with pytest.raises(gn.CheckpointError, match="missing from the checkpoint: .*running_mean"):
        gn.load_params(g2, path)
    for k, a in before.items():
        np.testing.assert_array_equal(g2.storage[k], a)


def test_failing_load_writes_nothing(tmp_path: Path) -> None:
    """One mismatching entry among good ones: no array of the graph changes."""
    g, loss, _ = bn_model()
    _train(g, loss, 3)
    path = str(tmp_path / "p.npz")
    gn.save_params(g, path)
    with gn.Graph("bnnet") as g2:
        x = gn.input("x", (None, 4))
        nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 3))(x)  # the linear layer is wider
    before = {k: g2.storage[k].copy() for k in g2.storage.keys()}
    with pytest.raises(gn.CheckpointError, match=r"linear/w: graph has float32\[4, 3\], checkpoint has "
                                                 r"float32\[4, 2\]"):
        gn.load_params(g2, path)
    for k, a in before.items():
        np.testing.assert_array_equal(g2.storage[k], a)


def test_model_state_excludes_optimizer_slots() -> None:
    g, loss, _ = bn_model()
    gn.optim.Adam(0.01).updates(loss)
    names = gn.checkpoint.model_state(g)
    assert "sequential/batch_norm1d/running_var" in names and "sequential/linear/w" in names
    assert not any(n.startswith("adam") for n in names)
    assert set(gn.checkpoint.optimizer_slots(g)) == {v.name for v in g.state if v.name.startswith("adam")}


def test_gn_load_of_a_params_file_says_what_to_use(tmp_path: Path) -> None:
    g, loss, _ = bn_model()
    gn.optim.Adam(0.01).updates(loss)
    path = str(tmp_path / "p.npz")
    gn.save_params(g, path)
    with pytest.raises(gn.CheckpointError, match="without its optimizer slots.*gn.load_params"):
        gn.load(path)


def test_nonfinite_step_leaves_running_statistics_too() -> None:
    g, loss, _ = bn_model()
    tr = gn.train.Trainer(loss, gn.optim.SGD(0.1), nan_guard=False)
    tr.train_step({"x": X, "y": Y})
    mean, var = (a.copy() for a in stats(g))
    bad = X.copy()
    bad[3, 2] = np.nan
    tr.train_step({"x": bad, "y": Y})
    np.testing.assert_array_equal(stats(g)[0], mean)
    np.testing.assert_array_equal(stats(g)[1], var)
