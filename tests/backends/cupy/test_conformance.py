"""Every op's conformance case through backend="cupy" on the strict stand-in (CPU CI) and, where a GPU is
present, on real CuPy: same shape, dtype and values as the NumPy backend and the plain-NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.cupy import KERNELS, OUT_KERNELS
from graphnn.backends.numpy import KERNELS as NUMPY_KERNELS
from graphnn.ir.op_registry import get_op, registry
from graphnn.passes.elementwise_fusion import FUSABLE

from ...conformance.cases import CASES, LOWERED_BY_PASSES, Case, build_case, draw
from .conftest import real_cupy, to_host


def test_every_op_has_a_cupy_kernel() -> None:
    missing = sorted(n for n in registry() if n not in LOWERED_BY_PASSES and n not in KERNELS)
    assert not missing, f"ops without a CuPy kernel: {missing}"
    # Every NumPy destination-passing kernel kept for CuPy has a plain kernel too (the fallback path).
    assert set(OUT_KERNELS) <= set(KERNELS)
    assert set(NUMPY_KERNELS) <= set(KERNELS)


def test_every_fusable_op_has_a_c_expression() -> None:
    from graphnn.backends.cupy.cuda_source import expr

    for op in sorted(FUSABLE):
        n = get_op(op).num_inputs  # every fusable op is elementwise with a fixed arity
        attrs = {"dtype": "float32"} if op == "cast" else {}
        assert expr(op, attrs, [f"a{i}" for i in range(n)], "float32")


def _ids(c: Case) -> str:
    return f"{c.op}-{c.id}" if c.id else c.op


def _run_case(case: Case, dtype: str) -> None:
    g, ins, out = build_case(case, dtype)
    fn_np = gn.compile(g, outputs={"out": out}, passes="none", mode="train")  # references use batch statistics
    fn_cp = gn.compile(g, outputs={"out": out}, passes="none", backend="cupy", mode="train")
    rng = np.random.default_rng(0)
    for batch in (2, 5):
        feeds = {v.name: draw(s, batch, rng, dtype if s.dtype.startswith("float") else None)
                 for v, s in zip(ins, case.inputs)}
        want = fn_np(**feeds)["out"]
        got = fn_cp(**feeds)["out"]
        assert type(got).__name__ != "ndarray" or hasattr(got, "get"), "cupy backend returned a host array"
        got = to_host(got)
        assert got.shape == want.shape and got.dtype == want.dtype, (case.op, got.shape, got.dtype)
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=case.op)
        if case.ref is not None:
            np.testing.assert_allclose(got, np.asarray(case.ref(*feeds.values())), rtol=tol, atol=tol, err_msg=case.op)


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_case_on_standin(case: Case, dtype: str, standin) -> None:
    _run_case(case, dtype)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_case_on_gpu(case: Case) -> None:
    cp, why = real_cupy()
    if cp is None:
        pytest.skip(f"no CuPy GPU backend here: {why}")
    _run_case(case, "float32")


def test_numpy_kernel_modules_do_array_math_only_through_xp() -> None:
    """The CuPy table reuses these factories: a direct NumPy call would silently run on the host (or fail)."""
    import ast
    import pathlib

    import graphnn.backends.numpy as pkg

    shape_only = {"broadcast_shapes", "dtype", "prod", "can_cast", "ndarray"}
    # host-only drivers, which refuse any other array module up front (tests/backends/numpy/test_conv_winograd.py)
    host_only = {"conv_winograd.py"}  # Winograd.of(xp, ...) is None unless xp is NumPy: numba on host arrays
    bad = []
    for path in sorted(pathlib.Path(pkg.__file__).parent.glob("*.py")):
        if path.name in ("backend.py", "__init__.py") or path.name in host_only:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "np"
                    and node.attr not in shape_only):
                bad.append(f"{path.name}:{node.lineno}: np.{node.attr}")
    assert not bad, "NumPy-only calls in kernel modules (use xp):\n" + "\n".join(bad)
