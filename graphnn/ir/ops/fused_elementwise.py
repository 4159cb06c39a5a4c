"""`fused_elementwise`: one node standing for a chain of elementwise ops, made by the elementwise fusion
pass after autodiff. Its `body` attr is the chain in JSON form; its type rule replays the members' rules.

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1
from ..errors import GraphError
from ..op import REQUIRED, InferCtx, Op
from ..op_registry import get_op
from ..types import TensorType

OPS: list[Op] = []

# A body is a tuple of steps `(op, attrs, args)`; an arg is ("in", i) for the node's i-th input,
# ("t", j) for the result of step j, or ("c", number, dtype) for a scalar literal. The last step is the
# node's output. Everything is tuples, strings and numbers, so the node serializes like any other.


def body_types(ctx: InferCtx, ins: list[TensorType], body: tuple) -> list[TensorType]:
    """The type of every step of `body` given the node's input types, by each member op's own rule."""
    ts: list[TensorType] = []
    for k, (op, attrs, args) in enumerate(body):
        arg_types = []
        for a in args:
            if a[0] == "in":
                arg_types.append(ins[a[1]])
            elif a[0] == "t":
                if not 0 <= a[1] < k:
                    raise GraphError(f"fused_elementwise: step {k} reads step {a[1]}, which is not before it")
                arg_types.append(ts[a[1]])
            elif a[0] == "c":
                arg_types.append(TensorType(a[2], ()))
            else:
                raise GraphError(f"fused_elementwise: bad argument {a!r} in step {k}")
        member = get_op(op)
        if not member.elementwise:
            raise GraphError(f"fused_elementwise: member op {op!r} is not elementwise")
        ts.extend(member.infer(ctx, arg_types, member.normalize_attrs(dict(attrs))))
    return ts


def step_dtypes(body: tuple, in_dtypes: list[str]) -> list[str]:
    """The dtype of every step of `body`: each member's own type rule replayed on rank-0 types (dtypes do not
    depend on shapes), so backends never restate which op yields bool or which dtype a cast or where gives."""
    ctx = InferCtx(None, "fused_elementwise")  # type: ignore[arg-type]  # rank-0 types never touch the graph
    return [t.dtype for t in body_types(ctx, [TensorType(d, ()) for d in in_dtypes], body)]


def _fused_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    body = attrs["body"]
    if not body:
        raise GraphError("fused_elementwise: empty body")
    return [body_types(ctx, t, body)[-1]]


OPS.append(Op(
    "fused_elementwise", _fused_rule, (1, None), {"body": REQUIRED},
    nondiff="made by the fusion pass after autodiff; gradients are taken of the unfused members",
    elementwise=False,  # broadcasting inside the body makes it unsafe to treat as one elementwise op
    doc="a chain of elementwise ops run as one kernel; attr body lists the members in order",
))


def fused_elementwise(inputs: list[Any], body: tuple) -> Any:
    """A fused elementwise node over `inputs` (used by the fusion pass; users never need it)."""
    return apply1("fused_elementwise", inputs, {"body": body})
