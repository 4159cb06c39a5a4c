"""Builds pytest-collectable classes from onnx's backend-test runner for exactly the tests a committed list names,
and checks that the lists account for every test of a group."""

from __future__ import annotations

import unittest
from collections.abc import Iterable

import onnx.backend.test
import pytest

from graphnn.backends.onnx.backend import GraphnnBackend

from . import read_list, same_onnx


def backend_suite(kind: str, names: Iterable[str], expected_failures: dict[str, str] | None = None) -> dict:
    """{class name: unittest class} running onnx's tests of `kind` named in `names` (others removed, so nothing
    is reported as skipped forever); names in `expected_failures` are marked as expected to fail."""
    wanted = {f"{n}_cpu" for n in names}
    bt = onnx.backend.test.BackendTest(GraphnnBackend, f"graphnn_{kind.lower()}")
    cls = bt.test_cases[f"OnnxBackend{kind}ModelTest"]
    for attr in [a for a in vars(cls) if a.startswith("test_")]:
        if attr not in wanted:
            delattr(cls, attr)
    for name in expected_failures or {}:
        attr = f"{name}_cpu"
        setattr(cls, attr, unittest.expectedFailure(getattr(cls, attr)))
    missing = wanted - set(vars(cls))
    assert not missing, f"listed tests onnx does not have: {sorted(missing)[:10]}"
    return {cls.__name__: cls}


def check_lists_cover(suite: str, kind: str) -> None:
    """Every test onnx has for the group is either in the pass list or excluded with a reason, and no test is
    in both (made for the onnx version the lists name; another version may add tests)."""
    if not same_onnx():
        pytest.skip("the lists were made with another onnx version: rerun suites/make_lists.py")
    passed, excluded = read_list(suite, "pass"), read_list(suite, "excluded")
    bt = onnx.backend.test.BackendTest(GraphnnBackend, "graphnn_lists")
    cls = bt.test_cases[f"OnnxBackend{kind}ModelTest"]
    have = {a[: -len("_cpu")] for a in vars(cls) if a.startswith("test_") and a.endswith("_cpu")}
    assert not set(passed) & set(excluded)
    assert set(passed) | set(excluded) == have, sorted(have ^ (set(passed) | set(excluded)))[:20]
    assert all(excluded.values()), [n for n, why in excluded.items() if not why][:10]
