"""ONNX's own node tests (`onnx.backend.test`) against graphnn's backend adapter. The tests that run are the
committed list suites/node_pass.txt (an importer regression fails a test instead of making it vanish); every other
node test is in suites/node_excluded.txt with its reason, grouped by family. Regenerate both with
`python -m tests.backends.onnx.suites.make_lists` after adding ops."""

from __future__ import annotations

from .suites import read_list
from .suites.runner import backend_suite, check_lists_cover

PASS = read_list("node", "pass")
globals().update(backend_suite("Node", PASS))


def test_lists_cover_every_node_test_with_a_reason() -> None:
    check_lists_cover("node", "Node")
