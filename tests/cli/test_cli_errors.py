"""The command line reports every bad invocation in one line on stderr with a non-zero exit, never a
traceback; `--debug` anywhere on the line shows the traceback instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graphnn.cli.main import main

SCRIPT_OK = """
import graphnn as gn
with gn.Graph("ok") as g:
    x = gn.input("x", (None, 3))
    g.output("y", gn.relu(x))
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ok.py").write_text(SCRIPT_OK)
    (tmp_path / "boom.py").write_text("import graphnn as gn\n\nraise KeyError('no such layer')\n")
    (tmp_path / "exit3.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "empty.py").write_text("x = 1\n")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "forged.json").write_text('{"format": "graphnn-graph/1", "name": 5}')
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage")
    (tmp_path / "wrongshape.py").write_text(
        "import graphnn as gn\nwith gn.Graph('w') as g:\n    x = gn.input('x', (2, 3))\n    y = x @ x\n")
    return tmp_path


BAD = [
    [],
    ["frobnicate"],
    ["export"],
    ["export", "{d}/ok.py"],
    ["export", "{d}/ok.py", "--out", "{d}/o.onnx", "--opset", "seventeen"],
    ["export", "{d}/missing.py", "--out", "{d}/o.onnx"],
    ["export", "{d}/boom.py", "--out", "{d}/o.onnx"],
    ["export", "{d}/exit3.py", "--out", "{d}/o.onnx"],
    ["export", "{d}/empty.py", "--out", "{d}/o.onnx"],
    ["export", "{d}/wrongshape.py", "--out", "{d}/o.onnx"],
    ["export", "{d}/ok.py", "--out", "{d}/o.onnx", "--name", "nothere"],
    ["export", "{d}/ok.py", "--out", "{d}/o.onnx", "--output", "zzz"],
    ["export", "{d}/ok.py", "--out", "{d}/o.onnx", "--script-args", "'unbalanced"],
    ["export", "{d}/bad.json", "--out", "{d}/o.onnx"],
    ["export", "{d}/forged.json", "--out", "{d}/o.onnx"],
    ["export", "{d}/binary.json", "--out", "{d}/o.onnx"],
    ["export", "{d}/dir.json", "--out", "{d}/o.onnx"],
    ["export", "{d}/ok.py", "--out", "{d}/no/such/dir/o.onnx"],
    ["viz", "{d}/ok.py", "--out", "{d}/g.html", "--dims", "batch=lots"],
    ["viz", "{d}/bad.json", "--out", "{d}/g.html"],
    ["viz", "{d}/forged.json", "--out", "{d}/g.html"],
    ["viz", "{d}/boom.py", "--out", "{d}/g.html"],
    ["viz", "{d}/missing.onnx", "--out", "{d}/g.html"],
    ["viz", "{d}/junk.onnx", "--out", "{d}/g.html"],
    ["viz"],
    ["check"],
    ["check", "{d}/missing.onnx"],
    ["--nope"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a).replace("{d}/", "") or "<none>" for a in BAD])
def test_bad_invocation_is_one_line_and_nonzero(argv: list[str], files: Path, capsys: pytest.CaptureFixture) -> None:
    args = [a.replace("{d}", str(files)) for a in argv]
    try:
        rc = main(args)
    except SystemExit as e:  # argparse's own exit, after our one-line message
        rc = e.code
    err = capsys.readouterr().err
    assert rc not in (0, None), err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_messages_say_what_is_wrong(files: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", str(files / "boom.py"), "--out", str(files / "o.onnx")]) == 2
    assert "boom.py raised KeyError at " + str(files / "boom.py") + ":3" in capsys.readouterr().err
    assert main(["export", str(files / "forged.json"), "--out", str(files / "o.onnx")]) == 1
    assert "forged.json: invalid graphnn graph" in capsys.readouterr().err
    assert main(["export", str(files / "wrongshape.py"), "--out", str(files / "o.onnx")]) == 2
    err = capsys.readouterr().err
    assert "ShapeError" in err and "wrongshape.py:4" in err


def test_debug_shows_the_traceback(files: Path) -> None:
    cmd = [sys.executable, "-m", "graphnn.cli", "export", str(files / "boom.py"), "--out", str(files / "o.onnx")]
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    debug = subprocess.run(cmd + ["--debug"], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "KeyError" in debug.stderr
