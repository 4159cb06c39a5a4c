"""Every differentiable op's gradient graph (default passes: fused backward chains, fused losses) through
backend="cupy" equals the NumPy backend's, on the stand-in and, where present, on a GPU."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

from ...conformance.cases import Case, draw
from ...conformance.test_gradients import GRAD_CASES, _ids
from .conftest import real_cupy, to_host


def _grad_graph(case: Case, dtype: str) -> tuple[gn.Graph, list[gn.Value], dict[str, gn.Value]]:
    with gn.Graph(f"grad_{case.op}") as g:
        xs = [gn.input(f"x{i}", tuple("batch" if d == "B" else d for d in s.shape),
                       dtype if s.dtype.startswith("float") else s.dtype) for i, s in enumerate(case.inputs)]
        y = case.build(*xs)
        loss = gn.sum(y * y) if y.ndim else y * y
        pos = case.differentiable if case.differentiable is not None else range(len(xs))
        wrt = [xs[i] for i in pos if case.inputs[i].dtype.startswith("float")]
        grads = gn.grad(loss, wrt, disconnected="zeros")
    return g, xs, {f"g{i}": v for i, v in enumerate(grads)} | {"loss": loss}


def _compare(case: Case, dtype: str) -> None:
    g, xs, outs = _grad_graph(case, dtype)
    fn_np = gn.compile(g, outputs=outs)
    fn_cp = gn.compile(g, outputs=outs, backend="cupy", host_outputs=True)
    rng = np.random.default_rng(3)
    feeds = {v.name: draw(s, 3, rng, dtype if s.dtype.startswith("float") else None) for v, s in zip(xs, case.inputs)}
    want, got = fn_np(**feeds), fn_cp(**feeds)
    tol = 1e-4 if dtype == "float32" else 1e-10
    for k in want:
        assert isinstance(got[k], np.ndarray) and got[k].dtype == want[k].dtype
        np.testing.assert_allclose(to_host(got[k]), want[k], rtol=tol, atol=tol, err_msg=f"{case.op} {k}")


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_gradient_on_standin(case: Case, standin) -> None:
    _compare(case, "float64")


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_gradient_on_gpu(case: Case) -> None:
    cp, why = real_cupy()
    if cp is None:
        pytest.skip(f"no CuPy GPU backend here: {why}")
    _compare(case, "float32")
