"""Registry-driven conformance: for every op, every table has its row or a reason (the matrix docs/ops.md draws,
checked fresh here); kernels sit in their family's file; per case, the type rule equals what the kernel returns
and the kernel equals a plain-NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends import cupy as cupy_tables
from graphnn.backends import numpy as numpy_tables
from graphnn.checking.opmatrix import DOC, onnx_tables_now, render, rows
from graphnn.ir.op_registry import family_of, registry
from graphnn.passes.constant_folding import FOLDERS

from .cases import CASES, LOWERED_BY_PASSES, Case, build_case, draw


def test_every_op_has_every_table_row() -> None:
    """The matrix, checked: for every op and every table, a row or an explicit reason (docs/ops.md draws it)."""
    lowerings, unsupported, not_imported = onnx_tables_now()  # every exported op not in NOT_IMPORTED round-trips
    covered = {c.op for c in CASES}
    problems = []
    for name, op in registry().items():
        if op.infer is None:
            problems.append(f"{name}: no type rule")
        if op.grad is None and op.nondiff is None:
            problems.append(f"{name}: neither a gradient rule nor a nondiff reason")
        if (name in lowerings) == (name in unsupported):
            problems.append(f"{name}: needs exactly one of an ONNX lowering or an UNSUPPORTED reason")
        if name in not_imported and name not in lowerings:
            problems.append(f"{name}: has a NOT_IMPORTED reason but is not exported at all")
        if op.pure and op.ufunc is not None and name not in FOLDERS:
            problems.append(f"{name}: a pure op with a ufunc is not constant-folded")
        if not op.pure and name in FOLDERS:
            problems.append(f"{name}: random, yet constant folding would evaluate it once")
        if name in LOWERED_BY_PASSES:
            if name in numpy_tables.KERNELS or name in covered:
                problems.append(f"{name}: lowered by a pass ({op.lowered}) but has a kernel or case")
            continue
        if name not in numpy_tables.KERNELS:
            problems.append(f"{name}: no NumPy kernel")
        if name not in cupy_tables.KERNELS:
            problems.append(f"{name}: no CuPy kernel (neither an override nor the NumPy kernel)")
        if name not in covered:
            problems.append(f"{name}: no conformance case in tests/conformance/cases.py")
    assert not problems, "\n".join(problems)


def test_every_table_row_names_a_registered_op() -> None:
    ops = set(registry())
    lowerings, unsupported, not_imported = onnx_tables_now()
    tables = {"numpy KERNELS": numpy_tables.KERNELS, "numpy OUT_KERNELS": numpy_tables.OUT_KERNELS,
              "CUPY_KERNELS": cupy_tables.CUPY_KERNELS, "CUPY_OUT_KERNELS": cupy_tables.CUPY_OUT_KERNELS,
              "onnx LOWERINGS": lowerings, "onnx UNSUPPORTED": unsupported, "onnx NOT_IMPORTED": not_imported,
              "constant folding": FOLDERS}
    stray = [f"{t}: {name}" for t, table in tables.items() for name in table if name not in ops]
    assert not stray, stray
    assert set(numpy_tables.OUT_KERNELS) <= set(numpy_tables.KERNELS)  # an out= kernel may decline: plain fallback


def test_numpy_and_cupy_kernels_live_in_their_family_file() -> None:
    """A newcomer finds softmax's NumPy kernel in backends/numpy/nn.py because softmax is in ir/ops/nn.py."""
    for tables in (numpy_tables, cupy_tables):
        for fam in tables.FAMILIES:
            family = fam.__name__.rsplit(".", 1)[-1]
            names = set(getattr(fam, "KERNELS", {})) | set(fam.OUT_KERNELS)
            if fam.__name__.endswith("numpy.control_flow"):
                names |= set(fam.kernels_with_cond({}))
            wrong = sorted(n for n in names if family_of(n) != family)
            assert not wrong, f"{fam.__name__} holds kernels of other families: {wrong}"
            assert names, f"{fam.__name__} holds no kernels"


def test_docs_ops_md_is_the_generated_matrix() -> None:
    want = render()
    have = DOC.read_text() if DOC.exists() else ""
    assert have == want, "docs/ops.md is stale: run `python -m graphnn.checking.opmatrix` and commit it"


def test_matrix_cells_agree_with_the_tables() -> None:
    """Spot checks of the drawn matrix against facts stated independently here."""
    by_op = {r.op: r for r in rows()}
    assert by_op["softmax"].family == "nn" and by_op["conv2d"].family == "conv"
    assert by_op["batch_norm"].family == "norm" and by_op["dropout"].family == "stochastic"
    assert by_op["dropout"].folding == "never (random)" and "random" in by_op["dropout"].traits
    assert by_op["add"].numpy == "kernel + out=" and by_op["add"].folding == "folds"
    assert by_op["sigmoid"].cupy == "override" and by_op["conv2d"].cupy == "NumPy kernel on xp"
    assert by_op["grad"].onnx_import == "not exported" and by_op["grad"].numpy.startswith("none: ")
    assert not [r.op for r in by_op.values() if "MISSING" in (r.type_rule, r.gradient, r.numpy, r.cupy, r.onnx_export)]


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
