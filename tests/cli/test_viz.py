"""`graphnn viz SCRIPT --out graph.html`: the script runs and its graph is found by the documented rule."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from graphnn.cli.load import load_target
from graphnn.cli.main import main
from graphnn.viz.html import read_page_data

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = '''
import numpy as np
import graphnn as gn
with gn.Graph("first") as other:
    gn.input("a", (2,))
with gn.Graph("tiny") as model:
    x = gn.input("x", (None, 3))
    w = gn.param("w", (3, 2), init=np.ones((3, 2), "float32"))
    y = gn.relu(x @ w)
    model.output("y", y)
'''


def test_last_graph_created_and_named_variable(tmp_path) -> None:
    s = tmp_path / "model.py"
    s.write_text(SCRIPT)
    assert load_target(str(s)).name == "tiny"  # no fn/graph/g: the last graph created
    assert load_target(str(s), name="other").name == "first"
    s.write_text(SCRIPT + "\ng = other\n")
    assert load_target(str(s)).name == "first"  # a module-level `g` wins
    s.write_text(SCRIPT + "\nf = gn.compile(model)\n")
    assert type(load_target(str(s))).__name__ == "Function"  # a compiled function beats the graphs


def test_cli_writes_html_and_dot(tmp_path) -> None:
    s = tmp_path / "model.py"
    s.write_text(SCRIPT)
    out = tmp_path / "graph.html"
    assert main(["viz", str(s), "--out", str(out), "--dims", "batch=16"]) == 0
    data = read_page_data(out)
    ops = [data["nodes"][i].get("op") for i in data["graphs"][0]["n"]]
    assert "relu" in ops and set(data["dims"].values()) == {16}
    assert any(re.fullmatch(r"\?\d+", k) for k in data["dims"])  # the anonymous batch dim, bound by --dims
    r = subprocess.run([sys.executable, "-m", "graphnn.cli", "viz", str(s), "--out", str(tmp_path / "g.dot")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g.dot").read_text().startswith('digraph "tiny"')


def test_onnx_model_is_loaded_and_drawn(tmp_path) -> None:  # noqa: ANN001

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "tiny_onnx", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "m.html"
    assert main(["viz", str(path), "--out", str(out)]) == 0
    data = read_page_data(out)
    ops = [data["nodes"][i].get("op") for i in data["graphs"][0]["n"] if data["nodes"][i]["k"] == "op"]
    assert ops == ["relu"]  # the Relu, in the main view
