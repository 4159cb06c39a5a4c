"""ONNX's own test groups as committed lists: which tests graphnn passes (they must keep passing: a regression
fails instead of vanishing) and why each other one is excluded. `make_lists.py` regenerates the lists by running
every test of each group through graphnn's backend adapter; `python -m tests.backends.onnx.suites.make_lists`."""

from __future__ import annotations

import os
import re

import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
# suite -> the onnx.backend.test kind it runs (the runner's test-case class name says the same)
SUITES = {"node": "Node", "pytorch-converted": "PyTorchConverted", "pytorch-operator": "PyTorchOperator"}

# The nine light reference CNNs (onnx/backend/test/data/light, the runner's "Real" models): they always run (the
# adapter never skips); the ones that cannot pass yet are expected failures with the reason, in this one place.
LIGHT_MODELS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
                "squeezenet", "vgg19", "zfnet512")
LIGHT_EXPECTED_FAILURES: dict[str, str] = {}  # all nine light CNNs pass since the pooling and conv merges


def list_path(suite: str, what: str) -> str:
    """tests/backends/onnx/suites/<suite>_<what>.txt (what: 'pass' or 'excluded')."""
    return os.path.join(HERE, f"{suite}_{what}.txt")


def read_list(suite: str, what: str) -> dict[str, str]:
    """Test name -> reason ('' in a pass list); comment lines start with '#'."""
    out: dict[str, str] = {}
    with open(list_path(suite, what)) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition("  # ")
            out[name.strip()] = reason.strip()
    return out


def recorded_onnx_version(suite: str) -> str:
    """The onnx version the lists were made with (their first line)."""
    with open(list_path(suite, "pass")) as f:
        first = f.readline()
    m = re.search(r"onnx ([^\s,]+)", first)
    return m.group(1) if m else ""


def same_onnx() -> bool:
    return recorded_onnx_version("node") == onnx.__version__
