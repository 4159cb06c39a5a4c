"""Constant folding, including shape arithmetic (element counts of `ones_like` reductions, reshapes and
transposes of constants). Passes may not import a backend, so folding uses a small table of plain NumPy
functions here, one per foldable op, each returning exactly the op's output dtype; ops not in the table
(random ones included) are never folded.

Imports only graphnn.ir.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..ir.builder import constant
from ..ir.graph import Graph, Node, Value
from ..ir.op_registry import registry
from ..ir.ops import shape_ops
from ..ir.ops.reduction import norm_axes
from .pattern import Match, Rule, constant_scalar, rewrite, rule

MAX_FOLDED = 4096  # elements; a folded constant larger than this and than its inputs stays a computation


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


_erf = np.vectorize(math.erf, otypes=[np.float64])  # folded constants are small (MAX_FOLDED): per element is fine
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _gelu(n: Node, x: np.ndarray) -> np.ndarray:
    if n.attrs["approximate"] == "none":
        return 0.5 * x * _erfc(-x / math.sqrt(2))
    return x * _sigmoid(2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))


def _reduce(f: Callable[..., Any]) -> Callable[..., Any]:
    return lambda n, x: f(x, axis=None if n.attrs["axes"] is None else tuple(n.attrs["axes"]),
                          keepdims=n.attrs["keepdims"])


def _index(n: Node) -> tuple:
    return tuple(None if i[0] == "new" else i[1] if i[0] == "int" else slice(*i[1:]) for i in n.attrs["index"])


def _shape(n: Node) -> tuple[int, ...]:
    return tuple(n.outputs[0].shape)  # type: ignore[arg-type]  # static: checked before folding


def _cumsum(n: Node, x: np.ndarray) -> np.ndarray:
    ax, a = n.attrs["axis"], n.attrs
    y = np.flip(x, ax) if a["reverse"] else x
    s = np.cumsum(y, axis=ax, dtype=x.dtype)
    if a["exclusive"]:
        s = np.concatenate([np.zeros_like(np.take(s, [0], axis=ax)), np.delete(s, -1, axis=ax)], axis=ax)
    return np.flip(s, ax) if a["reverse"] else s


def _scatter_add(n: Node, upd: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.zeros(_shape(n), upd.dtype)
    np.add.at(out, (slice(None),) * n.attrs["axis"] + (idx,), upd)
    return out


# Every op with a NumPy ufunc (Op.ufunc) folds by calling it; the rest of FOLDERS is written out below.
_UFUNCS = {name: getattr(np, op.ufunc) for name, op in registry().items() if op.ufunc is not None and op.pure}

def _elementwise(f: Callable[..., Any]) -> Callable[..., Any]:
    return lambda n, *xs: f(*xs)


# op -> fn(node, *input arrays) -> array; the result is cast to the node's output dtype.
FOLDERS: dict[str, Callable[..., Any]] = {op: _elementwise(f) for op, f in _UFUNCS.items()}
FOLDERS.update({
    "where": lambda n, c, a, b: np.where(c, a, b),
    "sigmoid": lambda n, x: _sigmoid(x),
    "softplus": lambda n, x: _softplus(x),
    "erf": lambda n, x: _erf(x),
    "gelu": _gelu,
    "silu": lambda n, x: x * _sigmoid(x),
    "relu": lambda n, x: np.maximum(x, 0),
    "identity": lambda n, x: x,
    "cast": lambda n, x: x,
    "sum": _reduce(np.sum), "mean": _reduce(np.mean), "max": _reduce(np.max), "min": _reduce(np.min),
    "reshape": lambda n, x: np.reshape(x, _shape(n)),
    "transpose": lambda n, x: np.transpose(x, n.attrs["perm"]),
    "broadcast_to": lambda n, x: np.broadcast_to(x, _shape(n)),
    "slice": lambda n, x: x[_index(n)],
    "concat": lambda n, *xs: np.concatenate(xs, axis=n.attrs["axis"]),
    "cumsum": lambda n, x: _cumsum(n, x),
    "tile": lambda n, x: np.tile(x, n.attrs["reps"]),
    "gather": lambda n, x, i: np.take(x, i, axis=n.attrs["axis"]),
    "scatter_add": lambda n, u, i: _scatter_add(n, u, i),
})


def _fold(m: Match) -> Value | None:
    out = m.out
    if not all(v.kind == "const" for v in m.inputs) or not out.type.is_static:
        return None
    arrays = [m.g.constants[v.id] for v in m.inputs]
    size = math.prod(out.shape)  # type: ignore[arg-type]
    if size > max(MAX_FOLDED, *(a.size for a in arrays)):
        return None
    with np.errstate(all="ignore"):
        res = np.asarray(FOLDERS[m.node.op](m.node, *arrays)).astype(out.dtype)
    return constant(res, dtype=out.dtype, name=f"{out.name}_folded", graph=m.g)


_FOLD_RULES = [rule(f"fold {op}", op)(_fold) for op in FOLDERS]


def _count_reduction(m: Match) -> Value | None:
    # sum/mean/max/min of a broadcast constant over static axes: the value follows from the shape alone
    # (this is how `count` and `ones_like` reductions in gradient graphs become constants).
    x = m.inputs[0]
    c = constant_scalar(x)
    bn = x.producer
    if c is None or bn is None or bn.op != "broadcast_to":
        return None
    axes = norm_axes(m.node.attrs["axes"], x.ndim)
    dims = [x.shape[a] for a in axes]
    if not all(isinstance(d, int) for d in dims) or (m.node.op != "sum" and 0 in dims):
        return None
    val = c * math.prod(dims) if m.node.op == "sum" else c  # type: ignore[arg-type]
    k = constant(np.asarray(val, dtype=m.out.dtype), name="count_folded", graph=m.g)
    return k if m.out.ndim == 0 else shape_ops.broadcast_to(k, m.out.shape)


_SHAPE_RULES = [rule("fold reduction of a broadcast constant", op)(_count_reduction)
                for op in ("sum", "mean", "max", "min")]

RULES: list[Rule] = [*_FOLD_RULES, *_SHAPE_RULES]


def fold_constants(g: Graph) -> Graph:
    """Evaluate nodes whose inputs are all constants, and reductions whose value follows from shapes.
    O(n + E) rule attempts through the rewrite engine's worklist, plus the folded arrays' own size."""
    return rewrite(g, RULES, "constant_folding")
