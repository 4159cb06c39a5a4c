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
    m = helper.make_model(helper.make_graph([helper.make_node("Tan", ["x"], ["y"], name="e")], "m",
                                            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]))
    path = tmp_path / "tan.onnx"
    onnx.save(m, path)
    res = _run("check", str(path))
    assert res.returncode == 1 and "Tan (e)" in res.stderr


def _max_with_empty_input() -> onnx.ModelProto:
    """Passes onnx.checker, but onnxruntime segfaults on it in-process (a Max node with an empty-name input)."""
    g = helper.make_graph([helper.make_node("Max", ["x", ""], ["y"], name="mx")], "m",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _one_line_error(res: subprocess.CompletedProcess, *words: str) -> None:
    assert res.returncode == 1, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphnn check: ") and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_check_a_model_that_crashes_onnxruntime_is_a_one_line_error(tmp_path) -> None:
    path = tmp_path / "max.onnx"
    onnx.save(_max_with_empty_input(), path)
    _one_line_error(_run("check", str(path)), str(path), "mx (Max)", "empty name")


def test_check_a_file_that_is_not_onnx_is_a_one_line_error(tmp_path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("these are not the weights you are looking for\n")
    _one_line_error(_run("check", str(path)), str(path), "not an ONNX model")


def test_check_runs_onnx_checker_before_importing(tmp_path) -> None:
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "m",
                                            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]),
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 0  # the checker refuses a model without an IR version; graphnn alone would import it
    path = tmp_path / "noir.onnx"
    path.write_bytes(m.SerializeToString())
    _one_line_error(_run("check", str(path)), str(path), "onnx.checker rejected")


def test_a_crash_inside_onnxruntime_is_a_graphnn_error_not_a_dead_process() -> None:
    import numpy as np
    import pytest

    import graphnn as gn
    from graphnn.backends.onnx.parity import run_onnxruntime_isolated

    with pytest.raises(gn.GraphError, match=r"onnxruntime crashed \(SIG"):
        run_onnxruntime_isolated(_max_with_empty_input(), {"x": np.ones(2, np.float32)})
    relu = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "m",
                                               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])]),
                             opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = np.array([-1.5, 0.0, 2.5], np.float32)
    np.testing.assert_array_equal(run_onnxruntime_isolated(relu, {"x": x})["y"], np.maximum(x, 0))
