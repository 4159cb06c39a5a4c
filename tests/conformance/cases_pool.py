"""Conformance cases of the pool family (graphnn/ir/ops/pool.py): values against plain NumPy loops."""

from __future__ import annotations

import graphnn as gn
from graphnn.ir.ops import pool as p

from ..ir.test_conv import ref_max_pool2d
from .cases import Case, In

X = In(("B", 2, 5, 6))
D = In(("B", 2, 5, 6), draw="distinct")

CASES: list[Case] = [
    Case("max_pool2d", (D,), lambda x: gn.max_pool2d(x, 3, 2, 1), lambda x: ref_max_pool2d(x, (3, 3), (2, 2), (1, 1))),
    Case("max_pool2d", (D,), lambda x: gn.max_pool2d(x, (2, 3)), lambda x: ref_max_pool2d(x, (2, 3), (2, 3), (0, 0)),
         "rect"),
    Case("max_pool2d_grad", (D, In(("B", 2, 3, 3))), lambda x, gy: p.max_pool2d_grad(x, gy, 3, 2, 1)),
    Case("max_pool2d_select", (D, X), lambda x, z: p.max_pool2d_select(x, z, 3, 2, 1)),
]
