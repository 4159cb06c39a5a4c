"""CUDA C source for `cupy.ElementwiseKernel`s: a `fused_elementwise` body (or one stable activation) becomes
one kernel whose operation declares a typed local per step and assigns the last one to the output.

Every member op maps to a C expression in one table (`EXPR`); constants are inlined as literals of their own
dtype; each step is cast to its own C type, so the arithmetic is done in the dtypes the type rules give
(float32 stays float32). Pure string work: imports graphnn.ir only, never cupy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...ir.graph import Node

# dtype name -> C type used inside the kernel body (CuPy spells parameters with the NumPy names).
CTYPE = {"float16": "float16", "float32": "float", "float64": "double", "int8": "signed char",
         "int32": "int", "int64": "long long", "uint8": "unsigned char", "bool": "bool"}
COMPARE = {"greater": ">", "less": "<", "greater_equal": ">=", "less_equal": "<=", "equal": "=="}
ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


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


def _is_float(dtype: str) -> bool:
    return dtype.startswith("float")


def expr(op: str, attrs: dict, args: list[str], arg_dtypes: list[str], dtype: str) -> str:
    """The C expression of one member op over already-typed operand expressions; result dtype `dtype`."""
    t = CTYPE[dtype]
    a = args[0]
    if op in ARITH:
        return f"({a} {ARITH[op]} {args[1]})"
    if op in COMPARE:
        return f"({a} {COMPARE[op]} {args[1]})"
    if op in ("maximum", "minimum"):
        # NumPy's maximum/minimum propagate NaN (fmax/fmin would drop it): a NaN operand wins.
        cmp = ">" if op == "maximum" else "<"
        return f"((({a} {cmp} {args[1]}) || ({a} != {a})) ? {a} : {args[1]})"
    if op == "relu":
        return f"((({a} > {literal(0, dtype)}) || ({a} != {a})) ? {a} : {literal(0, dtype)})"
    if op == "leaky_relu":
        return f"(({a} > {literal(0, dtype)}) ? {a} : ({t})({a} * {literal(attrs['alpha'], dtype)}))"
    if op == "neg":
        return f"(-{a})"
    if op == "abs":
        return f"fabs({a})" if _is_float(dtype) else f"(({a} < 0) ? ({t})(-{a}) : {a})"
    if op in ("exp", "log", "sqrt", "tanh", "log1p"):
        return f"{op}({a})"
    if op == "pow":
        return f"pow({a}, {args[1]})" if _is_float(dtype) else f"({t})pow((double){a}, (double){args[1]})"
    if op == "sign":
        s = f"({t})(({a} > 0) - ({a} < 0))"
        return f"(({a} != {a}) ? {a} : {s})" if _is_float(dtype) else s
    if op == "sigmoid":
        # exp(-|x|) never overflows; the two branches are the same function written for each sign.
        e = f"exp(-fabs({a}))"
        one = literal(1, dtype)
        return f"(({a} >= {literal(0, dtype)}) ? ({one} / ({one} + {e})) : ({e} / ({one} + {e})))"
    if op == "softplus":
        return f"((({a} > {literal(0, dtype)}) ? {a} : {literal(0, dtype)}) + log1p(exp(-fabs({a}))))"
    if op == "where":
        return f"({a} ? {args[1]} : {args[2]})"
    if op == "cast":
        return f"({a} != 0)" if dtype == "bool" else f"({t})({a})"
    if op == "identity":
        return a
    raise NotImplementedError(f"cupy codegen: no C expression for member op {op!r}")


def step_dtypes(body: tuple, in_dtypes: list[str]) -> list[str]:
    """The dtype of every step of a fused body (the type rules' outcome, replayed on dtypes only)."""
    out: list[str] = []
    for op, attrs, args in body:
        ds = [in_dtypes[a[1]] if a[0] == "in" else out[a[1]] if a[0] == "t" else a[2] for a in args]
        if op in COMPARE:
            out.append("bool")
        elif op == "cast":
            out.append(dict(attrs)["dtype"])
        elif op == "where":
            out.append(ds[1])
        else:
            out.append(ds[0])
    return out


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
        texts, ads = [], []
        for a in args:
            if a[0] == "in":
                texts.append(f"in{a[1]}")
                ads.append(in_dtypes[a[1]])
            elif a[0] == "t":
                texts.append(f"t{a[1]}")
                ads.append(dts[a[1]])
            else:
                texts.append(literal(a[1], a[2]))
                ads.append(a[2])
        lines.append(f"const {CTYPE[dts[k]]} t{k} = {expr(op, dict(attrs), texts, ads, dts[k])};")
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
