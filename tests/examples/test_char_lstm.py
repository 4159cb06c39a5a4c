"""examples/char_lstm.py on a reduced budget: it trains, beats the uniform and unigram baselines on held-out text,
samples, exports logits equal in onnxruntime, and writes the drawing."""

from __future__ import annotations

import math
import os

from .conftest import load_example


def test_char_lstm_quick(tmp_path, capsys) -> None:
    res = load_example("char_lstm").main(["--chars", "30000", "--seq", "32", "--hidden", "64", "--embed", "16",
                                          "--epochs", "3", "--lr", "1e-2", "--sample", "40", "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert "epoch" in out.out + out.err  # the progress bar and epoch lines
    assert res["bits_per_char"] < res["unigram_bits_per_char"] < math.log2(92)
    assert len(res["sample"]) == 44 and res["sample"].startswith("The ")
    if res["onnx_max_diff"] is not None:
        assert res["onnx_max_diff"] < 1e-4
    assert {"char_lstm.onnx", "char_lstm.html"} <= set(os.listdir(tmp_path))
