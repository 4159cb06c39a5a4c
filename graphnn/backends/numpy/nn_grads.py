"""NumPy kernels of graphnn/ir/ops/nn_grads.py: gelu_grad, g * gelu'(x) in one pass.

Exact form in float32: gelu'(x) = Phi(x) + x phi(x) = 1 - r for x >= 0 and r for x < 0, with
r = Phi(-|x|) - |x| phi(x) = exp(-x²/2) (erfcx(|x|/√2)/2 - |x|/√(2π)), from the same float32 erfcx fit as the
forward (special.py), in cache-sized blocks; no erf, and neither branch cancels. Other dtypes and the tanh form
go through whole-array expressions.

Written against `xp`. Imports graphnn.ir, the backend records and the special-function helpers (and the optional compiled path).
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from .. import compiled
from ..destination import OutKernel
from ..table import Table
from .elementwise import special_function, stable_sigmoid
from .special import BLOCK, ERFCX32_P, ERFCX32_Q, GELU_CLIP, horner, quiet
from .support import Factory, Kernel, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (nn_grads)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (nn_grads)")
_INV_SQRT2, _INV_SQRT_2PI = 0.7071067811865476, 0.3989422804014327
_P_HALF = tuple(c * 0.5 for c in ERFCX32_P)


def _gelu_slope_block(xp: Any, x: Any, out: Any, g: Any = None) -> None:
    """out = gelu'(x) (times g when given) for a float32 block (see the module docstring)."""
    a = xp.abs(x)
    xp.clip(a, 0.0, GELU_CLIP, out=a)  # r is 0 in float32 beyond; inf becomes finite (slope 1 or 0, not nan);
    # clip with both bounds: NumPy's minimum with a scalar is ~4x slower
    z = a * _INV_SQRT2
    p = horner(xp, z, _P_HALF, xp.empty_like(z))
    p /= horner(xp, z, ERFCX32_Q, xp.empty_like(z))
    xp.multiply(a, _INV_SQRT_2PI, out=z)
    p -= z
    a *= a
    a *= -0.5
    xp.exp(a, out=a)
    p *= a  # r
    # 1 - r where x >= 0, r elsewhere (nan included), as r + [x >= 0] (1 - 2r): exact where x < 0, where r can
    # be tiny; a masked copy (copyto where=) costs three times these four passes
    xp.greater_equal(x, 0.0, out=z)
    xp.multiply(p, -2.0, out=out)
    out += 1.0
    out *= z
    out += p
    if g is not None:
        out *= g


def gelu_slope32(xp: Any, x: Any, g: Any = None) -> Any:
    """gelu'(x) (times g, of x's shape, when given) of a float32 array (exact form), blockwise so that the
    temporaries stay in cache; one compiled pass (backends/compiled) when numba is there and not switched off."""
    fast = None if g is None else compiled.gelu_slope32(xp, x, g)
    if fast is not None:
        return fast
    out = xp.empty(x.shape, x.dtype)
    flat, dst = xp.ascontiguousarray(x).reshape(-1), out.reshape(-1)
    gf = None if g is None else xp.ascontiguousarray(g).reshape(-1)
    with quiet(xp, under="ignore"):
        for i in range(0, flat.size, BLOCK):
            _gelu_slope_block(xp, flat[i:i + BLOCK], dst[i:i + BLOCK], None if gf is None else gf[i:i + BLOCK])
    return out


def _gelu_slope(xp: Any, x: Any, dt: str) -> Any:
    """gelu'(x) exact, in any float dtype: Phi(x) = erfc(-x/√2)/2 keeps the left tail."""
    if x.dtype == xp.float32:
        return gelu_slope32(xp, x)
    erfc = special_function(xp, "erfc")
    return (0.5 * erfc(x * -_INV_SQRT2) + x * xp.exp(x * x * -0.5) * _INV_SQRT_2PI).astype(dt, copy=False)


def _gelu_slope_tanh(xp: Any, x: Any, dt: str) -> Any:
    """The tanh form's slope: with s = sigmoid(2u) = (1 + tanh u)/2, s + x 2 s (1 - s) k (1 + 3 c x²)."""
    k, c = 0.7978845608028654, 0.044715
    s = stable_sigmoid(xp, 2 * k * (x + c * x * x * x))
    return (s + x * (2 * k) * s * (1 - s) * (1 + 3 * c * x * x)).astype(dt, copy=False)


@KERNELS.register("gelu_grad")
def _gelu_grad(xp: Any, node: Node, env: dict) -> Kernel:
    dt = node.outputs[0].dtype
    slope = _gelu_slope if node.attrs["approximate"] == "none" else _gelu_slope_tanh

    def f(x: Any, g: Any) -> Any:
        if x.dtype == xp.float32 and g.shape == x.shape and node.attrs["approximate"] == "none":
            return gelu_slope32(xp, x, g)  # the product with g inside the blocks, while they are in cache
        d = slope(xp, x, dt)
        if d.shape == g.shape:
            d *= g
            return d
        return (d * g).astype(dt, copy=False)

    return f


def _tail_key(x_id: int) -> tuple:
    return ("gelu_tail", x_id)


def gelu_out(xp: Any, node: Node, env: dict) -> OutKernel | None:
    """gelu's out= kernel when the compiled path runs (float32, exact form): it also leaves r = Φ(-|x|) - |x|φ(x)
    as a CallContext fact, so gelu_grad of the same x is one multiply-select pass instead of a second evaluation
    of the erfcx fit and exp (0.9 ms -> ~0.1 ms on 2^19 elements). Declines (None) otherwise: the plain kernel."""
    dt = node.outputs[0].dtype
    k = compiled.gelu_tail_kernels(xp, dt) if node.attrs["approximate"] == "none" else None
    if k is None:
        return None
    tail = xp.empty(shape_of(node.outputs[0].type.shape, env), dt)

    def run(x: Any, out: Any) -> None:
        k.gelu_and_tail(xp.ascontiguousarray(x).reshape(-1), out.reshape(-1), tail.reshape(-1))

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        if ctx is not None and ctx.ids:
            ctx.facts[_tail_key(ctx.ids[0])] = tail
        return [(run, (ins[0], out), {})]

    return OutKernel(calls, scratch_bytes=tail.nbytes, takes_context=True)


@OUT_KERNELS.register("gelu_grad")
def _gelu_grad_out(xp: Any, node: Node, env: dict) -> OutKernel | None:
    """With the forward's tail (gelu_out) for this x, one compiled pass; otherwise the plain kernel (declines)."""
    dt = node.outputs[0].dtype
    k = compiled.gelu_tail_kernels(xp, dt) if node.attrs["approximate"] == "none" else None
    if k is None or node.inputs[0].type.shape != node.inputs[1].type.shape:
        return None
    plain_f = _gelu_grad(xp, node, env)

    def from_tail(tail: Any, x: Any, g: Any, out: Any) -> None:
        k.slope_from_tail(xp.ascontiguousarray(x).reshape(-1), tail.reshape(-1), xp.ascontiguousarray(g).reshape(-1),
                          out.reshape(-1))

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        tail = ctx.facts.get(_tail_key(ctx.ids[0])) if ctx is not None and ctx.ids else None
        if tail is not None and tail.shape == out.shape:
            return [(from_tail, (tail, ins[0], ins[1], out), {})]
        return [(_into, (out, plain_f, *ins), {})]

    return OutKernel(calls, takes_context=True)


def _into(out: Any, f: Any, *ins: Any) -> None:
    """out[...] = f(*ins): the plain kernel's result written into the planned buffer (no forward tail here)."""
    out[...] = f(*ins)
