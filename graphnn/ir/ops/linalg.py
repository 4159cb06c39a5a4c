"""Linear algebra: matmul with NumPy's batch and 1-D rules, and gemm_update (c + scale s a @ b, the fused SGD step).

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1, atomic
from ..errors import ShapeError
from ..graph import Value
from ..op import InferCtx, Op
from ..types import TensorType, format_shape
from .elementwise import cast, mul
from .reduction import sum as sum_
from .shape_ops import reshape, transpose

OPS: list[Op] = []


def _matmul_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    dt = ctx.same_dtype(t)
    a, b = t[0].shape, t[1].shape
    if not a or not b:
        raise ShapeError("matmul needs operands of rank >= 1 (use mul for scalars)")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    ctx.dim_eq(a2[-1], b2[-2], f"matmul inner dims of {format_shape(a)} @ {format_shape(b)}")
    batch = ctx.broadcast(a2[:-2], b2[:-2])
    out = batch + ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())
    return [TensorType(dt, out)]


def _swap(v: Value) -> Value:
    perm = tuple(range(v.ndim - 2)) + (v.ndim - 1, v.ndim - 2)
    return transpose(v, perm)


def _matmul_grad(node: Any, gouts: list) -> list:
    # Promote 1-D operands to matrices (as NumPy does), use dA = dC B^T and dB = A^T dC, then sum away
    # broadcast batch dims and drop the promoted axes again.
    from ..gradutil import sum_to_shape
    a, b = node.inputs
    g = gouts[0]
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    if a.ndim == 1 and b.ndim == 1:
        g2 = reshape(g, (1, 1))
    elif a.ndim == 1:
        g2 = reshape(g, g.shape[:-1] + (1,) + g.shape[-1:])
    elif b.ndim == 1:
        g2 = reshape(g, g.shape + (1,))
    else:
        g2 = g
    ga = sum_to_shape(matmul(g2, _swap(b2)), a2.shape)
    if b2.ndim == 2 and a2.ndim > 2:
        # A weight shared over the batch: dB = A^T dC over the stacked batch rows is one 2-D product, not
        # batched products summed over the batch (no (..., k, n) intermediate, one GEMM).
        gb = matmul(_swap(reshape(a2, (-1, a2.shape[-1]))), reshape(g2, (-1, g2.shape[-1])))
    else:
        gb = sum_to_shape(matmul(_swap(a2), g2), b2.shape)
    return [reshape(ga, a.shape) if a.ndim == 1 else ga, reshape(gb, b.shape) if b.ndim == 1 else gb]


OPS.append(Op("matmul", _matmul_rule, 2, grad=_matmul_grad, doc="matrix product; leading dims broadcast as batch dims"))


@atomic
def matmul(a: Any, b: Any) -> Value:
    """a @ b (NumPy semantics, including batch dims and 1-D operands)."""
    return apply1("matmul", [a, b])


def _gemm_update_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    dt = ctx.same_dtype(t[:4])
    c, a, b, s = (x.shape for x in t[:4])
    if len(a) != 2 or len(b) != 2 or len(c) != 2 or s != ():
        raise ShapeError(f"gemm_update needs a matrix c, matrices a and b and a scalar s, got c {format_shape(c)}, "
                         f"a {format_shape(a)}, b {format_shape(b)}, s {format_shape(s)}")
    if len(t) == 5 and (t[4].dtype != "bool" or t[4].shape != ()):
        raise ShapeError(f"gemm_update's guard must be a bool scalar, got {t[4]}")
    ctx.dim_eq(a[1], b[0], f"gemm_update inner dims of {format_shape(a)} @ {format_shape(b)}")
    ctx.dim_eq(c[0], a[0], f"gemm_update rows of c {format_shape(c)} and a {format_shape(a)}")
    ctx.dim_eq(c[1], b[1], f"gemm_update columns of c {format_shape(c)} and b {format_shape(b)}")
    return [TensorType(dt, t[0].shape)]


def _gemm_update_grad(node: Any, gouts: list) -> list:
    # y = c + scale s (a @ b): dc = g, da = scale s g b^T, db = scale s a^T g, ds = scale sum(g * (a @ b)); with a
    # guard ok, y = c where not ok, so the other three are multiplied by ok (as 0 or 1).
    a, b, s = node.inputs[1:4]
    g = gouts[0]
    scale = node.attrs["scale"]
    k = mul(s, scale)
    if len(node.inputs) == 5:
        on = cast(node.inputs[4], s.dtype)
        k, scale = mul(k, on), mul(on, scale)
    grads = [g, mul(matmul(g, _swap(b)), k), mul(matmul(_swap(a), g), k), mul(sum_(mul(g, matmul(a, b))), scale)]
    return grads + [None] * (len(node.inputs) - 4)


OPS.append(Op("gemm_update", _gemm_update_rule, (4, 5), attrs={"scale": 1.0}, grad=_gemm_update_grad,
              doc="c + scale * s * (a @ b) for matrices and a scalar s (where the optional bool scalar ok holds; c "
                  "where not): BLAS's gemm with beta = 1, so an SGD step on a weight is one product written into the "
                  "weight (passes/gemm_update_fusion.py makes it)"))


@atomic
def gemm_update(c: Any, a: Any, b: Any, s: Any, scale: float = 1.0, ok: Any = None) -> Value:
    """c + scale * s * (a @ b) (c, a, b matrices, s a scalar), or c where the bool scalar `ok` is false: the fused
    form of `c - lr * (a @ b)` and of the optimizers' guarded `where(ok, c - lr * (a @ b), c)`."""
    return apply1("gemm_update", [c, a, b, s] + ([] if ok is None else [ok]), {"scale": float(scale)})
