"""Every conformance case round-trips: export -> gn.onnx.load -> run gives the numbers of the original graph (in
eval mode) and of the case's plain-NumPy reference. An op that is not exported is refused with its UNSUPPORTED
reason (unless the export pipeline rewrites it away); an op in NOT_IMPORTED fails to load with a graphnn error."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.onnx import LOWERINGS, NOT_IMPORTED, TRAINING_ONLY, UNSUPPORTED
from graphnn.ir.op_registry import registry
from tests.conformance.cases import CASES, Case, build_case, draw

SIZES = (2, 5)  # two bindings of the symbolic batch dim


def _feeds(case: Case, size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(size)
    return {f"in{i}": draw(s, size, rng) for i, s in enumerate(case.inputs)}


def test_not_imported_names_lowered_ops_with_a_reason() -> None:
    assert set(NOT_IMPORTED) <= set(LOWERINGS) and all(NOT_IMPORTED.values())
    assert set(LOWERINGS) | set(UNSUPPORTED) == set(registry())


def test_every_lowered_op_has_a_round_trip_case() -> None:
    assert not set(LOWERINGS) - {c.op for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.op}-{c.id}" if c.id else c.op)
def test_conformance_case_round_trips_through_onnx(case: Case) -> None:
    g, _, out = build_case(case)
    outs = {"out": out}
    allow = case.op in TRAINING_ONLY
    if case.op in UNSUPPORTED and any(n.op == case.op for n in gn.onnx.prepare(g, outs).nodes):
        with pytest.raises(gn.GraphError, match="refused by preflight") as ei:
            gn.onnx.export(g, None, outputs=outs, check_parity=False, allow_training_ops=True)
        assert UNSUPPORTED[case.op] in str(ei.value)
        return
    model = gn.onnx.export(g, None, outputs=outs, check_parity=False, allow_training_ops=allow).model
    data = model.SerializeToString()
    if case.op in NOT_IMPORTED:
        with pytest.raises(gn.GraphError):
            gn.onnx.load(data)
        return
    back = gn.onnx.load(data)
    assert list(back.outputs) == ["out"]
    want_fn = gn.compile(g, outputs=outs, mode="eval")
    got_fn = gn.compile(back)
    for size in SIZES:
        feeds = _feeds(case, size)
        want = np.asarray(want_fn(**feeds)["out"])
        got = np.asarray(got_fn(**{v.name: feeds[v.name] for v in back.inputs})["out"])
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg="round trip vs the original graph")
        if case.ref is not None and case.op in LOWERINGS:
            ref = np.asarray(case.ref(*feeds.values()))
            np.testing.assert_allclose(got, ref.astype(got.dtype), rtol=1e-4, atol=1e-5, err_msg="vs NumPy reference")
