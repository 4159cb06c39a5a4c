"""Registry-driven conformance: every op has a type rule, a NumPy kernel and a test case; per case, the type
rule equals what the kernel returns and the kernel equals a plain-NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.numpy.kernels import KERNELS
from graphnn.ir.op_registry import registry

from .cases import CASES, LOWERED_BY_PASSES, Case, build_case, draw


def test_every_op_has_kernel_and_case() -> None:
    covered = {c.op for c in CASES}
    problems = []
    for name, op in registry().items():
        if name in LOWERED_BY_PASSES:
            continue
        if op.infer is None:
            problems.append(f"{name}: no type rule")
        if name not in KERNELS:
            problems.append(f"{name}: no NumPy kernel")
        if name not in covered:
            problems.append(f"{name}: no conformance case in tests/conformance/cases.py")
        if op.grad is None and op.nondiff is None:
            problems.append(f"{name}: neither a gradient rule nor a nondiff reason")
    assert not problems, "\n".join(problems)


def _ids(c: Case) -> str:
    return f"{c.op}-{c.id}" if c.id else c.op


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_type_rule_matches_kernel_and_reference(case: Case, dtype: str) -> None:
    g, ins, out = build_case(case, dtype)
    fn = gn.compile(g, outputs={"out": out}, passes="none", mode="train")  # references use batch statistics
    rng = np.random.default_rng(0)
    for batch in (2, 5):
        feeds = {v.name: draw(s, batch, rng, dtype if s.dtype.startswith("float") else None)
                 for v, s in zip(ins, case.inputs)}
        res = fn(**feeds)["out"]
        env = {"batch": batch}
        want_shape = tuple(env.get(d, d) if isinstance(d, str) else d for d in out.shape)
        assert res.shape == want_shape, f"{case.op}: kernel shape {res.shape}, type rule {out.type}"
        assert res.dtype.name == out.dtype, f"{case.op}: kernel dtype {res.dtype}, type rule {out.dtype}"
        if case.ref is not None:
            want = np.asarray(case.ref(*feeds.values()))
            tol = 1e-5 if dtype == "float32" else 1e-12
            np.testing.assert_allclose(res, want, rtol=tol, atol=tol, err_msg=case.op)
