"""Conformance cases of gemm_update (graphnn/ir/ops/linalg.py): c + scale * s * (a @ b), against NumPy written here,
on the geometries the fused SGD step gives it: a weight gradient (a transposed activation, the batch as the inner
dim), a forward-shaped product, one row, odd sizes."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.ir.ops.linalg import gemm_update

from .cases import Case, In

S = In(())
CASES: list[Case] = [
    Case("gemm_update", (In((4, 5)), In((4, "B")), In(("B", 5)), S),
         lambda c, a, b, s: gemm_update(c, a, b, s, -1.0), lambda c, a, b, s: c - s * (a @ b), "batch-inner"),
    Case("gemm_update", (In((4, 5)), In(("B", 4)), In(("B", 5)), S),
         lambda c, x, b, s: gemm_update(c, gn.transpose(x), b, s, -1.0), lambda c, x, b, s: c - s * (x.T @ b),
         "weight-gradient"),
    Case("gemm_update", (In(("B", 7)), In(("B", 3)), In((3, 7)), S),
         lambda c, a, b, s: gemm_update(c, a, b, s, 0.5), lambda c, a, b, s: c + 0.5 * s * (a @ b), "batch-rows"),
    Case("gemm_update", (In((1, 3)), In((1, 1)), In((1, 3)), S),
         lambda c, a, b, s: gemm_update(c, a, b, s), lambda c, a, b, s: c + s * (a @ b), "one-row"),
    *(Case("gemm_update", (In((4, 5)), In(("B", 4)), In(("B", 5)), S),  # the guard: ok true, then false
           lambda c, x, b, s, on=on: gemm_update(c, gn.transpose(x), b, s, -1.0, gn.less(gn.abs(s), on)),
           lambda c, x, b, s, on=on: c - s * (x.T @ b) if abs(s) < on else c, f"guarded-{on}")
      for on in (np.inf, -1.0)),
    Case("gemm_update", (In((3, 5)), In((5, 3)), In((5, 5)), S),
         lambda c, a, b, s: gemm_update(c, gn.transpose(a), gn.transpose(b), s, -2.0),
         lambda c, a, b, s: c - 2.0 * s * (a.T @ b.T), "both-transposed"),
]
