"""ONNX's model groups through onnx's backend-test runner with graphnn's adapter (which never skips a model: it
runs or fails): the nine light reference CNNs (all nine pass; one that could not would be an expected failure with
its reason in suites/__init__.py), and the pytorch-converted and pytorch-operator groups as committed lists (what
passes must keep passing; each exclusion has a named reason in suites/<group>_excluded.txt)."""

from __future__ import annotations

from .suites import LIGHT_EXPECTED_FAILURES, LIGHT_MODELS, read_list
from .suites.runner import backend_suite, check_lists_cover

CONVERTED = read_list("pytorch-converted", "pass")
OPERATOR = read_list("pytorch-operator", "pass")
globals().update(backend_suite("Real", [f"test_{m}" for m in LIGHT_MODELS],
                               {f"test_{m}": why for m, why in LIGHT_EXPECTED_FAILURES.items()}))
globals().update(backend_suite("PyTorchConverted", CONVERTED))
globals().update(backend_suite("PyTorchOperator", OPERATOR))


def test_pytorch_groups_are_covered_by_the_lists() -> None:
    check_lists_cover("pytorch-converted", "PyTorchConverted")
    check_lists_cover("pytorch-operator", "PyTorchOperator")


def test_pass_counts() -> None:
    """The floor this branch reached (issue 15 targets 75/82 and 33/35 once the conv and pooling ops land)."""
    assert len(CONVERTED) >= 38 and len(OPERATOR) >= 30, (len(CONVERTED), len(OPERATOR))
