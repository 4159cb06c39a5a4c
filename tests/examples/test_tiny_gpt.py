"""examples/tiny_gpt.py on a reduced budget: it learns (held-out bits per character below the unigram baseline),
samples, and its ONNX export gives onnxruntime the logits graphnn computes; the drawing is written."""

from __future__ import annotations

import os

import numpy as np
import pytest

from .conftest import load_example

pytest.importorskip("tqdm")


def test_tiny_gpt_quick(tmp_path, capsys) -> None:
    ort = pytest.importorskip("onnxruntime")
    res = load_example("tiny_gpt").main(["--chars", "60000", "--epochs", "3", "--d-model", "32", "--blocks", "1",
                                         "--sample", "40", "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert "unigram baseline" in out.out and "parity vs onnxruntime" in out.out
    assert "epoch" in out.out + out.err  # the progress bar (tqdm writes to stderr)
    assert res["test_bpc"] < res["unigram_bpc"] - 0.3, (res["test_bpc"], res["unigram_bpc"])
    assert len(res["sample"]) == 40
    assert {"tiny_gpt.onnx", "tiny_gpt.html"} <= set(os.listdir(tmp_path))
    x = res["X_test"][:3]
    sess = ort.InferenceSession(res["onnx"], providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x})[0]
    np.testing.assert_allclose(got, res["infer"](x=x)["logits"], rtol=1e-4, atol=1e-4)
