"""The destination-passing kernel record (`OutKernel`), the plan-time `CallContext`, and `UFUNCS`: op -> ufunc name
(from Op.ufunc), shared by the elementwise kernels and the fused elementwise kernel.

Imports graphnn.ir only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..ir.op_registry import registry

Call = tuple[Callable[..., Any], tuple, dict]  # fn, positional args (arrays or Dyn), keyword args


@dataclass
class OutKernel:
    """`calls(ins, out)` -> the calls that write the node's result into `out`; `inplace`: out may alias an input."""

    calls: Callable[[list[Any], Any], list[Call]]
    inplace: bool = False
    scratch_bytes: int = 0
    takes_context: bool = False  # calls(ins, out, ctx): ctx.scratch(shape, dtype, k) and ctx.clobber
    share_inputs: tuple[int, ...] | None = None  # with inplace: the input positions out may alias (None: any)


@dataclass
class CallContext:
    """What the planner offers a kernel at plan time: plan-wide shared scratch, the positions of inputs
    whose buffers die at this node (the kernel may overwrite them), the inputs' value ids, and `facts`:
    arrays an earlier node's calls leave filled during every run, keyed by what they hold and the value ids
    they were computed from (e.g. ("softmax", x_id, axis) -> exp(x - rowmax) and its row sums, left by the
    softmax cross-entropy for the backward's softmax of the same logits). Values are never overwritten while
    live (the plan is SSA over buffers), so a fact about live inputs holds until they die."""

    scratch: Callable[[tuple, str, int], Any]
    clobber: frozenset[int] = frozenset()
    ids: tuple[int, ...] = ()
    facts: dict[tuple, Any] = field(default_factory=dict)


UFUNCS = {name: op.ufunc for name, op in registry().items() if op.ufunc is not None}
