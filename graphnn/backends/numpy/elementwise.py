"""NumPy kernels of graphnn/ir/ops/elementwise.py: arithmetic and comparisons as ufuncs, activations, where,
cast; and their destination-passing (`out=`) forms in OUT_KERNELS.

Written against the array module `xp` so CuPy reuses them. Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

import math
from typing import Any

from ...ir.graph import Node
from ...ir.op_registry import family_of
from ..destination import UFUNCS, OutKernel
from ..table import Table
from .special import erf32, erfc32
from .support import Factory, Kernel, shape_of, zeros_operand

KERNELS: Table[Factory] = Table("numpy kernel (elementwise)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (elementwise)")


def _ufunc(name: str) -> Factory:
    return lambda xp, node, env: getattr(xp, name)


def _ufunc_out(name: str) -> Any:
    def f(xp: Any, node: Node, env: dict) -> OutKernel:
        uf = getattr(xp, name)
        return OutKernel(lambda ins, out: [(uf, tuple(ins), {"out": out})], inplace=True)

    return f


def register_ufuncs(family: str, kernels: Table[Factory], out_kernels: Table[Any]) -> None:
    """Register the plain and destination-passing kernels of every op of `family` that has a `ufunc` trait."""
    for op, uf in UFUNCS.items():
        if family_of(op) == family:
            kernels.register(op)(_ufunc(uf))
            out_kernels.register(op)(_ufunc_out(uf))


register_ufuncs("elementwise", KERNELS, OUT_KERNELS)
KERNELS.register("where")(_ufunc("where"))


@KERNELS.register("identity", "stop_gradient")
def _identity(xp: Any, node: Node, env: dict) -> Kernel:
    return lambda x: x


@KERNELS.register("relu")
def _relu(xp: Any, node: Node, env: dict) -> Kernel:
    zero = xp.zeros((), dtype=node.outputs[0].dtype)
    return lambda x: xp.maximum(x, zero)


@OUT_KERNELS.register("relu")
def _relu_out(xp: Any, node: Node, env: dict) -> OutKernel:
    zero = zeros_operand(xp, shape_of(node.outputs[0].type.shape, env), node.outputs[0].dtype)
    return OutKernel(lambda ins, out: [(xp.maximum, (ins[0], zero), {"out": out})], inplace=True)


@KERNELS.register("leaky_relu")
def _leaky_relu(xp: Any, node: Node, env: dict) -> Kernel:
    a = node.attrs["alpha"]
    return lambda x: xp.where(x > 0, x, x * xp.asarray(a, dtype=x.dtype))


@KERNELS.register("prelu")
def _prelu(xp: Any, node: Node, env: dict) -> Kernel:
    return lambda x, s: xp.where(x > 0, x, x * s)


def stable_sigmoid(xp: Any, x: Any) -> Any:
    """1 / (1 + exp(-x)) without overflow."""
    # exp(-|x|) never overflows; the two branches are the same function written for each sign.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def stable_softplus(xp: Any, x: Any) -> Any:
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    return (xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype, copy=False)


@KERNELS.register("sigmoid")
def _sigmoid(xp: Any, node: Node, env: dict) -> Kernel:
    return lambda x: stable_sigmoid(xp, x)


@KERNELS.register("softplus")
def _softplus(xp: Any, node: Node, env: dict) -> Kernel:
    return lambda x: stable_softplus(xp, x)


def special_function(xp: Any, name: str) -> Any:
    """erf or erfc over arrays (NumPy has no such ufunc): scipy.special's when SciPy is installed (the examples
    and dev extras bring it), else Python's `math` function applied element by element (exact, slower). CuPy
    overrides every kernel that calls one."""
    try:  # optional dependency; imported here: scipy.special costs ~0.2 s, paid only by graphs with erf or gelu
        from scipy import special
    except ImportError:
        scalar = xp.frompyfunc(getattr(math, name), 1, 1)
        exact = lambda x: xp.asarray(scalar(x), dtype="float64")  # noqa: E731
    else:
        exact = getattr(special, name)
    fast = erf32 if name == "erf" else erfc32  # float32: ufunc formulas, relative error < 6e-7 (special.py)
    return lambda x: fast(xp, x) if x.dtype == xp.float32 else exact(x)


@KERNELS.register("erf")
def _erf(xp: Any, node: Node, env: dict) -> Kernel:
    f, dt = special_function(xp, "erf"), node.outputs[0].dtype
    return lambda x: f(x).astype(dt, copy=False)


@KERNELS.register("cast")
def _cast(xp: Any, node: Node, env: dict) -> Kernel:
    dt = node.attrs["dtype"]
    return lambda x: x.astype(dt)


@OUT_KERNELS.register("cast")
def _cast_out(xp: Any, node: Node, env: dict) -> OutKernel:
    return OutKernel(lambda ins, out: [(xp.copyto, (out, ins[0]), {"casting": "unsafe"})], inplace=False)
