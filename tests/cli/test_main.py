"""`graphnn export|viz|check` pointed at the shipped examples (which build their graphs inside main()), at a
graphnn JSON graph, and at files that do not exist: run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import graphnn as gn
from graphnn.backends.cupy import backend as cupy_backend
from graphnn.cli.load import load_graph, load_target
from graphnn.cli.main import main
from graphnn.ir.serialize import to_json
from graphnn.viz.html import read_page_data

pytest.importorskip("sklearn")
ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "graphnn.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300, check=False)


def test_export_then_check_the_readme_demo(tmp_path) -> None:
    out = tmp_path / "m.onnx"
    r = _cli("export", str(EX / "digits_mlp.py"), "--out", str(out),
             "--script-args", f"--epochs 1 --out {tmp_path / 'run'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "parity vs onnxruntime" in r.stdout and "test accuracy" in r.stdout  # the script ran, then the export
    model = onnx.load(out)
    assert [o.name for o in model.graph.output] == ["probs"]  # the graph's named output
    assert {i.name for i in model.graph.input} == {"x"}  # eval mode: labels and dropout left out
    r = _cli("check", str(out), "--backend", "numpy", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("ok") and "graphnn (numpy) vs onnxruntime" in r.stdout


def test_viz_the_readme_demo(tmp_path) -> None:
    r = _cli("viz", str(EX / "digits_mlp.py"), "--out", str(tmp_path / "d.html"),
             "--script-args", f"--epochs 1 --out {tmp_path / 'run'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # before: argparse saw viz's own arguments ("unrecognized arguments")
    data = read_page_data(tmp_path / "d.html")
    assert data["graphs"][0]["name"] == "digits_mlp" and len(data["graphs"][0]["n"]) > 50


def test_loader_finds_graphs_built_inside_main() -> None:
    # xor builds its graph inside main() and compiles a training step and a predict function: the training
    # step (the one with updates) is taken, and its source graph is the user's graph (compiles inside the ONNX
    # exporter or the drawing code would not count).
    t = load_target(str(EX / "xor.py"), script_args="--epochs 10")
    assert isinstance(t, gn.Function) and t.source.name == "xor" and t.graph.updates
    assert {n.name for n in t.source.params} == set(t.graph.updates)
    g = load_graph(str(EX / "xor.py"), script_args=["--epochs", "3"])
    assert isinstance(g, gn.Graph) and g.name == "xor" and any(n.op == "grad" for n in g.nodes)


def test_export_picks_outputs_by_name(tmp_path, capsys) -> None:
    out = tmp_path / "xor.onnx"
    assert main(["export", str(EX / "xor.py"), "--out", str(out), "--script-args", "--epochs 10"]) == 2
    assert "declares no outputs" in capsys.readouterr().err  # xor declares none: say how to choose
    assert main(["export", str(EX / "xor.py"), "--out", str(out), "--output", "sigmoid",
                 "--script-args", "--epochs 10"]) == 0
    assert [o.name for o in onnx.load(out).graph.output] == ["sigmoid"]
    assert main(["export", str(EX / "xor.py"), "--out", str(out), "--output", "nope",
                 "--script-args", "--epochs 10"]) == 2
    err = capsys.readouterr().err
    assert "no output or value named 'nope'" in err and "sigmoid" in err


def test_viz_reads_a_json_graph_instead_of_running_it(tmp_path, capsys) -> None:
    with gn.Graph("from_json") as g:
        x = gn.input("x", (None, 3))
        g.output("p", gn.softmax(x @ gn.param("w", (3, 2), init=np.ones((3, 2), "float32"))))
    path = tmp_path / "g.json"
    path.write_text(to_json(g))
    assert main(["viz", str(path), "--out", str(tmp_path / "g.dot")]) == 0
    dot = (tmp_path / "g.dot").read_text()
    assert dot.startswith('digraph "from_json"') and "softmax" in dot
    assert main(["export", str(path), "--out", str(tmp_path / "g.onnx")]) == 0


def test_missing_files_give_one_line_not_a_traceback(tmp_path, capsys) -> None:
    for argv in (["check", str(tmp_path / "missing.onnx")], ["viz", str(tmp_path / "missing.py")],
                 ["export", str(tmp_path / "missing.json"), "--out", str(tmp_path / "m.onnx")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "missing" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_check_on_the_cupy_backend(tmp_path, capsys, monkeypatch) -> None:
    with gn.Graph("c") as g:
        x = gn.input("x", (None, 4))
        g.output("y", gn.tanh(x @ gn.param("w", (4, 2), init=np.full((4, 2), 0.3, "float32"))))
    path = tmp_path / "c.onnx"
    gn.onnx.export(g, path)
    try:
        cupy_backend.load_cupy()
        have_gpu = True
    except gn.BackendError:
        have_gpu = False
    rc = main(["check", str(path), "--backend", "cupy"])
    out = capsys.readouterr()
    if have_gpu:
        assert rc == 0 and "graphnn (cupy) vs onnxruntime" in out.out
    else:  # the BackendError's message (what to install), exit 1, no traceback
        assert rc == 1 and "backend 'cupy'" in out.err and "Traceback" not in out.err
    from tests.backends.cupy.standin import cupy as standin

    monkeypatch.setattr(cupy_backend, "load_cupy", lambda: standin)  # the cupy path itself, on the stand-in
    assert main(["check", str(path), "--backend", "cupy"]) == 0
    assert "graphnn (cupy) vs onnxruntime" in capsys.readouterr().out
