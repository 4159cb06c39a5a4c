"""examples/xor.py runs as a script: the loss goes down and all four XOR points are classified right."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_xor_example_learns_xor() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "xor.py")], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    losses = [float(v) for v in re.findall(r"loss ([0-9.]+)", run.stdout)]
    assert len(losses) >= 5
    assert losses[-1] < 0.05 < losses[0]
    assert all(b <= a for a, b in itertools.pairwise(losses)), losses
    preds = {tuple(map(int, re.findall(r"\d", m[0]))): float(m[1])
             for m in re.findall(r"(\[\d \d\]) -> ([0-9.]+)", run.stdout)}
    assert preds.keys() == {(0, 0), (0, 1), (1, 0), (1, 1)}
    for (a, b), p in preds.items():
        assert (p > 0.5) == bool(a ^ b), preds
    assert "accuracy 100%" in run.stdout
