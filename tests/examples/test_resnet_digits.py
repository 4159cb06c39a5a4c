"""examples/resnet_digits.py on a reduced budget (two epochs of a narrow network) on every backend: it trains well
above chance, exports to ONNX with parity against onnxruntime, and writes its drawing and curves. The full budget
(the docstring's, >= 98.5 %) takes minutes and is reported in the example's docstring, not run here."""

from __future__ import annotations

import os

import pytest

from .conftest import load_example

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def test_resnet_digits_quick(tmp_path, backend: str, capsys) -> None:
    res = load_example("resnet_digits").main(["--epochs", "2", "--width", "8", "--out", str(tmp_path),
                                              "--backend", backend])
    assert res["test_accuracy"] > 0.3  # two epochs of an 8-channel net: far above chance (0.1)
    out = capsys.readouterr().out
    assert "parity vs onnxruntime" in out and "max abs diff" in out
    assert {"curves.png", "params.npz", "resnet_digits.onnx", "resnet_digits.html"} <= set(os.listdir(tmp_path))
