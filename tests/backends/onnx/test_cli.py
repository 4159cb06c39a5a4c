"""`graphnn export` and `graphnn check` run as a user would run them (a subprocess)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import onnx
from onnx import TensorProto, helper

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = """
import numpy as np
import graphnn as gn

rng = np.random.default_rng(0)
with gn.Graph("mlp") as g:
    x = gn.input("x", (None, 4))
    w = gn.param("w", (4, 3), init=rng.standard_normal((4, 3)).astype("float32"))
    g.output("probs", gn.softmax(x @ w))
    {extra}
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "graphnn.cli", *args], check=False, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_export_then_check(tmp_path) -> None:
    script = tmp_path / "model.py"
    script.write_text(SCRIPT.format(extra=""))
    out = tmp_path / "model.onnx"
    res = _run("export", str(script), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "onnx.checker.check_model(full_check=True): ok" in res.stdout and "parity vs onnxruntime" in res.stdout
    assert [o.name for o in onnx.load(out).graph.output] == ["probs"]
    res = _run("check", str(out))
    assert res.returncode == 0, res.stderr
    assert "max abs diff" in res.stdout and res.stdout.strip().endswith("ok")


def test_export_refusal_exits_nonzero_with_the_preflight(tmp_path) -> None:
    script = tmp_path / "loss.py"
    script.write_text(SCRIPT.format(extra='g.output("loss", gn.cross_entropy(gn.softmax(x @ w), '
                                          'gn.input("y", (None,), "int64")))'))
    res = _run("export", str(script), "--out", str(tmp_path / "m.onnx"))
    assert res.returncode == 1 and "loss head" in res.stderr and "ONNX preflight" in res.stderr
    ok = _run("export", str(script), "--out", str(tmp_path / "m.onnx"), "--allow-training-ops")
    assert ok.returncode == 0, ok.stderr


def test_check_reports_unsupported_ops(tmp_path) -> None:
    m = helper.make_model(helper.make_graph([helper.make_node("Erf", ["x"], ["y"], name="e")], "m",
                                            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]))
    path = tmp_path / "erf.onnx"
    onnx.save(m, path)
    res = _run("check", str(path))
    assert res.returncode == 1 and "Erf (e)" in res.stderr
