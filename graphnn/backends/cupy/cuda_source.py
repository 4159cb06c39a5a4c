"""CUDA C source for `cupy.ElementwiseKernel`s: a `fused_elementwise` body (or one stable activation) becomes
one kernel whose operation declares a typed local per step and assigns the last one to the output; and
`compiled(xp, src)`, the one cache of the kernels built from such sources.

Every member op's C expression is its Op.c_expr (graphnn/ir/ops/elementwise.py); constants are inlined as
literals of their own dtype; each step is cast to its own C type, so the arithmetic is done in the dtypes the
type rules give (float32 stays float32). String work: imports graphnn.ir only, never cupy (`compiled` uses the `xp` it is given).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...ir.graph import Node
from ...ir.op_registry import get_op
from ...ir.ops.fused_elementwise import step_dtypes

# dtype name -> C type used inside the kernel body (CuPy spells parameters with the NumPy names).
CTYPE = {"float16": "float16", "float32": "float", "float64": "double", "int8": "signed char",
         "int32": "int", "int64": "long long", "uint8": "unsigned char", "bool": "bool"}


def literal(value: Any, dtype: str) -> str:
    """`value` as a C literal of `dtype` (float32 gets the f suffix; inf and nan as constant divisions)."""
    if dtype == "bool":
        return "true" if value else "false"
    if dtype in ("float32", "float64", "float16"):
        suffix = "f" if dtype != "float64" else ""
        v = float(value)
        if math.isnan(v):
            text = f"(0.0{suffix} / 0.0{suffix})"
        elif math.isinf(v):
            text = f"({'-' if v < 0 else ''}1.0{suffix} / 0.0{suffix})"
        else:
            text = repr(v) + suffix
        return text if dtype != "float16" else f"(float16)({text})"
    suffix = "LL" if dtype == "int64" else ""
    return f"(({CTYPE[dtype]}){int(value)}{suffix})"


def expr(op: str, attrs: dict, args: list[str], dtype: str) -> str:
    """The C expression of one member op (its Op.c_expr) over already-typed operand expressions; result `dtype`."""
    o = get_op(op)
    template = o.c_expr_int if o.c_expr_int is not None and not dtype.startswith("float") else o.c_expr
    if template is None:
        raise NotImplementedError(f"cupy kernel generator: op {op!r} has no C expression (Op.c_expr)")
    lits = {k: literal(v, dtype) for k, v in attrs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return template.format(*args, T=CTYPE[dtype], zero=literal(0, dtype), one=literal(1, dtype), **lits)


@dataclass(frozen=True)
class KernelSource:
    """The three strings `cupy.ElementwiseKernel(in_params, out_params, operation, name)` takes."""

    in_params: str
    out_params: str
    operation: str
    name: str

    def args(self) -> tuple[str, str, str, str]:
        return self.in_params, self.out_params, self.operation, self.name


def body_source(body: tuple, in_dtypes: list[str], name: str = "graphnn_fused") -> KernelSource:
    """One kernel for a whole fused body: a `const T tk = ...;` per step, then `out0 = t<last>;`."""
    dts = step_dtypes(body, in_dtypes)
    lines = []
    for k, (op, attrs, args) in enumerate(body):
        texts = [f"in{a[1]}" if a[0] == "in" else f"t{a[1]}" if a[0] == "t" else literal(a[1], a[2]) for a in args]
        lines.append(f"const {CTYPE[dts[k]]} t{k} = {expr(op, dict(attrs), texts, dts[k])};")
    lines.append(f"out0 = t{len(body) - 1};")
    in_params = ", ".join(f"{d} in{i}" for i, d in enumerate(in_dtypes))
    return KernelSource(in_params, f"{dts[-1]} out0", " ".join(lines), name)


def fused_source(node: Node) -> KernelSource:
    """The kernel source of a `fused_elementwise` node (named after its members, for profilers)."""
    body = node.attrs["body"]
    ops = "_".join(op for op, _, _ in body)[:48]
    return body_source(body, [v.dtype for v in node.inputs], f"graphnn_{ops}")


def unary_source(op: str, dtype: str, attrs: dict | None = None) -> KernelSource:
    """One kernel for a single stable activation (sigmoid, softplus, leaky_relu)."""
    body = ((op, tuple(sorted((attrs or {}).items())), (("in", 0),)),)
    return body_source(body, [dtype], f"graphnn_{op}")


_CACHE: dict[tuple, Any] = {}  # (array module id, source) -> compiled kernel, shared by all plans


def compiled(xp: Any, src: KernelSource) -> Any:
    """The module's ElementwiseKernel for `src` (CuPy compiles it on first launch and caches the binary)."""
    key = (id(xp), src)
    k = _CACHE.get(key)
    if k is None:
        k = _CACHE[key] = xp.ElementwiseKernel(*src.args())
    return k


def sum_exp(xp: Any, dt: str) -> Any:
    """sum(exp(x - m)) along an axis as ONE reduction kernel (the exponentials are never stored)."""
    key = (id(xp), "sum_exp", dt)
    k = _CACHE.get(key)
    if k is None:
        k = _CACHE[key] = xp.ReductionKernel(f"{dt} x, {dt} m", f"{dt} s", "exp(x - m)", "a + b", "s = a", "0",
                                             "graphnn_sum_exp")
    return k
