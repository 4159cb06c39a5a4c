"""Graph-level request ops: `grad` (a gradient request the autodiff pass expands).

Imports only sibling ir modules.
"""

from __future__ import annotations

from ..op import InferCtx, Op
from ..types import TensorType

OPS: list[Op] = []


def _grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    return list(t[1:])


OPS.append(Op("grad", _grad_rule, (2, None), nondiff="a request: expanded before it is differentiated", flops=0,
              lowered="expanded by the autodiff pass before any backend runs",
              doc="d inputs[0] / d inputs[1:]; replaced by backward nodes in the autodiff pass"))
