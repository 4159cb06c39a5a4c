"""One or more cases per registered op: input specs, attrs through a builder call, and a plain-NumPy reference.

Each conformance check (type rule vs kernel, gradients, ONNX, CuPy) walks these cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import graphnn as gn
from graphnn.ir.op_registry import registry


@dataclass(frozen=True)
class In:
    """An input spec: shape (ints; 'B' marks the symbolic batch dim), dtype, and how to draw values."""

    shape: tuple
    dtype: str = "float32"
    draw: str = "normal"  # normal | pos | prob | unit | label:K | bool | distinct


@dataclass(frozen=True)
class Case:
    op: str
    inputs: tuple[In, ...]
    build: Callable[..., Any]
    ref: Callable[..., Any] | None = None  # plain NumPy reference on the drawn arrays
    id: str = ""
    differentiable: tuple[int, ...] | None = None  # input positions to check gradients of (None: all float)
    extra: dict = field(default_factory=dict)


def draw(spec: In, batch: int, rng: np.random.Generator, dtype: str | None = None) -> np.ndarray:
    shape = tuple(batch if d == "B" else d for d in spec.shape)
    dt = dtype or spec.dtype
    kind = spec.draw
    if kind.startswith("label:"):
        return rng.integers(0, int(kind[6:]), size=shape).astype(dt)
    if kind == "bool":
        return rng.random(shape) < 0.5
    if kind == "pos":
        return (rng.random(shape) + 0.5).astype(dt)
    if kind == "unit":
        return (rng.random(shape) * 0.8 + 0.1).astype(dt)
    if kind == "prob":
        a = rng.random(shape) + 0.1
        return (a / a.sum(-1, keepdims=True)).astype(dt)
    if kind == "distinct":  # values far apart, so max/argmax/relu kinks are not hit by finite differences
        n = int(np.prod(shape)) if shape else 1
        return (rng.permutation(n).reshape(shape) * 0.37 - n * 0.15 + 0.05).astype(dt)
    return rng.standard_normal(shape).astype(dt)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _unslice(a: gn.Value, index: tuple, shape: tuple) -> gn.Value:
    from graphnn.ir.ops.shape_ops import normalize_index, unslice

    return unslice(a, normalize_index(index, len(shape)), shape)


def _np_unslice(a: np.ndarray, index: tuple, shape: tuple) -> np.ndarray:
    out = np.zeros(shape, a.dtype)
    out[index] = a
    return out


F = In((3, 4))
FB = In(("B", 4))
CASES: list[Case] = [
    Case("add", (FB, In((4,))), lambda a, b: a + b, lambda a, b: a + b, "broadcast"),
    Case("sub", (In((3, 1)), In((1, 4))), lambda a, b: a - b, lambda a, b: a - b),
    Case("mul", (FB, FB), lambda a, b: a * b, lambda a, b: a * b),
    Case("div", (F, In((3, 4), draw="pos")), lambda a, b: a / b, lambda a, b: a / b),
    Case("pow", (In((3, 4), draw="pos"), In((4,))), lambda a, b: a ** b, lambda a, b: a ** b),
    Case("maximum", (In((3, 4), draw="distinct"), In((4,))), gn.maximum, np.maximum),
    Case("minimum", (In((3, 4), draw="distinct"), In((4,))), gn.minimum, np.minimum),
    Case("greater", (F, In((4,))), gn.greater, np.greater),
    Case("less", (F, F), gn.less, np.less),
    Case("greater_equal", (F, F), gn.greater_equal, np.greater_equal),
    Case("less_equal", (F, F), gn.less_equal, np.less_equal),
    Case("equal", (In((3, 4), draw="label:3", dtype="int64"),) * 2, gn.equal, np.equal),
    Case("neg", (FB,), lambda a: -a, np.negative),
    Case("abs", (In((3, 4), draw="distinct"),), gn.abs, np.abs),
    Case("exp", (F,), gn.exp, np.exp),
    Case("log", (In((3, 4), draw="pos"),), gn.log, np.log),
    Case("sqrt", (In((3, 4), draw="pos"),), gn.sqrt, np.sqrt),
    Case("relu", (In((3, 4), draw="distinct"),), gn.relu, lambda a: np.maximum(a, 0)),
    Case("sigmoid", (F,), gn.sigmoid, lambda a: 1 / (1 + np.exp(-a))),
    Case("tanh", (F,), gn.tanh, np.tanh),
    Case("softplus", (F,), gn.softplus, lambda a: np.log1p(np.exp(a))),
    Case("sign", (F,), gn.sign, np.sign),
    Case("leaky_relu", (In((3, 4), draw="distinct"),), lambda a: gn.leaky_relu(a, 0.2),
         lambda a: np.where(a > 0, a, 0.2 * a)),
    Case("prelu", (In((3, 4), draw="distinct"), In((4,), draw="pos")), gn.prelu, lambda x, s: np.where(x > 0, x, s * x)),
    Case("stop_gradient", (F,), gn.stop_gradient, lambda a: a, differentiable=()),
    Case("identity", (F,), gn.identity, lambda a: a),
    Case("where", (In((3, 4), draw="bool", dtype="bool"), F, In((4,))), gn.where, np.where),
    Case("cast", (F,), lambda a: gn.cast(a, "float64"), lambda a: a.astype(np.float64)),
    Case("sum", (In((2, 3, 4)),), lambda a: gn.sum(a, axis=(0, 2), keepdims=True),
         lambda a: a.sum(axis=(0, 2), keepdims=True)),
    Case("mean", (In((2, 3, 4)),), lambda a: gn.mean(a, axis=1), lambda a: a.mean(axis=1)),
    Case("max", (In((2, 3, 4), draw="distinct"),), lambda a: gn.max(a, axis=-1), lambda a: a.max(axis=-1)),
    Case("min", (In((2, 3, 4), draw="distinct"),), lambda a: gn.min(a), lambda a: np.asarray(a.min())),
    Case("argmax", (In((3, 4), draw="distinct"),), lambda a: gn.argmax(a, axis=1), lambda a: a.argmax(axis=1)),
    Case("reshape", (In(("B", 2, 6)),), lambda a: gn.reshape(a, (-1, 3, 4)), None),
    Case("transpose", (In((2, 3, 4)),), lambda a: gn.transpose(a, (2, 0, 1)), lambda a: a.transpose(2, 0, 1)),
    Case("concat", (F, In((3, 2))), lambda a, b: gn.concat([a, b], axis=1), lambda a, b: np.concatenate([a, b], 1)),
    Case("slice", (In((4, 5, 6)),), lambda a: a[1:3, ::2, -1], lambda a: a[1:3, ::2, -1]),
    Case("unslice", (In((2, 3)),), lambda a: _unslice(a, (slice(1, 3), slice(None, None, 2)), (4, 6)),
         lambda a: _np_unslice(a, (slice(1, 3), slice(None, None, 2)), (4, 6))),
    Case("broadcast_to", (In((1, 4)),), lambda a: gn.broadcast_to(a, (3, 4)), lambda a: np.broadcast_to(a, (3, 4))),
    Case("matmul", (In(("B", 5)), In((5, 3))), lambda a, b: a @ b, lambda a, b: a @ b),
    Case("matmul", (In((2, 3, 5)), In((5,))), lambda a, b: a @ b, lambda a, b: a @ b, "batch-vector"),
    Case("softmax", (F,), lambda a: gn.softmax(a, axis=0), lambda a: _softmax(a, 0)),
    Case("log_softmax", (F,), gn.log_softmax, lambda a: np.log(_softmax(a))),
    Case("one_hot", (In(("B",), "int64", "label:5"),), lambda y: gn.one_hot(y, 5),
         lambda y: np.eye(5, dtype=np.float32)[y]),
    Case("maxout", (In((3, 6), draw="distinct"),), lambda a: gn.maxout(a, 3), lambda a: a.reshape(3, 2, 3).max(-1)),
    Case("cross_entropy", (In(("B", 5), draw="prob"), In(("B",), "int64", "label:5")),
         lambda p, y: gn.cross_entropy(p, y),
         lambda p, y: -np.log(p[np.arange(len(y)), y]).mean(), differentiable=(0,)),
    Case("cross_entropy", (In((3, 5), draw="prob"), In((3, 5), draw="prob")),
         lambda p, t: gn.cross_entropy(p, t, reduction="sum"), lambda p, t: -(t * np.log(p)).sum(), "soft"),
    Case("binary_cross_entropy", (In((3, 4), draw="unit"), In((3, 4), draw="unit")), gn.binary_cross_entropy,
         lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()),
    Case("mse", (F, F), gn.mse, lambda p, t: ((p - t) ** 2).mean()),
    Case("mae", (In((3, 4), draw="distinct"), F), lambda p, t: gn.mae(p, t, reduction="sum"),
         lambda p, t: np.abs(p - t).sum()),
    Case("kl_div", (In((3, 4), draw="prob"), In((3, 4), draw="prob")), gn.kl_div,
         lambda p, q: (p * (np.log(p) - np.log(q))).sum(-1).mean()),
    # fused stable losses (graphnn/ir/ops/fused.py), references from log-softmax / softplus in plain NumPy
    Case("softmax_cross_entropy", (In(("B", 5)), In(("B",), "int64", "label:5")), gn.softmax_cross_entropy,
         lambda x, y: -np.log(_softmax(x)[np.arange(len(y)), y]).mean(), differentiable=(0,)),
    Case("softmax_cross_entropy", (In((3, 5)), In((3, 5), draw="prob")),
         lambda x, t: gn.softmax_cross_entropy(x, t, reduction="none", axis=0),
         lambda x, t: -(t * np.log(_softmax(x, 0))).sum(0), "soft-axis0"),
    Case("softmax_cross_entropy", (In((2, 4, 3)), In((2, 3), "int64", "label:4")),
         lambda x, y: gn.softmax_cross_entropy(x, y, reduction="sum", axis=1),
         lambda x, y: -np.log(np.take_along_axis(_softmax(x, 1), y[:, None, :], 1)).sum(), "labels-axis1",
         differentiable=(0,)),
    Case("sigmoid_binary_cross_entropy", (F, In((3, 4), draw="unit")), gn.sigmoid_binary_cross_entropy,
         lambda z, t: -(t * np.log(1 / (1 + np.exp(-z))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-z)))).mean()),
    # runtime: a fused chain, relu(x + b) * 0.5 with a mask, as the elementwise fusion pass writes it
    Case("fused_elementwise", (In(("B", 4)), In((4,))), lambda x, b: gn.ir.ops.fused_elementwise.fused_elementwise(
        [x, b], (("add", (), (("in", 0), ("in", 1))), ("relu", (), (("t", 0),)),
                 ("greater", (), (("in", 0), ("c", 0.0, x.dtype))), ("cast", (("dtype", x.dtype),), (("t", 2),)),
                 ("mul", (), (("t", 1), ("t", 3)))), ),
         lambda x, b: np.maximum(x + b, 0) * (x > 0)),
]

# control flow (issue 10): both branches are traced; the predicate picks one at run time
CASES += [
    Case("cond", (In(("B", 4), draw="pos"), In((4,))),
         lambda a, b: gn.cond(gn.sum(a) > 0, lambda x, y: gn.tanh(x) * y, lambda x, y: x - y, a, b),
         lambda a, b: np.tanh(a) * b, "then"),
    Case("cond", (In(("B", 4), draw="pos"), In((4,))),
         lambda a, b: gn.cond(gn.sum(a) < 0, lambda x, y: gn.tanh(x) * y, lambda x, y: x - y, a, b),
         lambda a, b: a - b, "else"),
]

# ---- nn ops (issue 6): conv/pool and their backward ops, norms, dropout -------------------------------
def _bn_stats(x: gn.Value, gm: gn.Value, bt: gn.Value) -> gn.Value:
    from graphnn.ir.ops.norm import batch_norm_train

    y, m, v = batch_norm_train(x, gm, bt, 1e-3)
    return gn.concat([gn.reshape(y, (-1,)), m, v], axis=0)


def _np_bn_train(x: np.ndarray, gm: np.ndarray, bt: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    r = (0, 2, 3) if x.ndim == 4 else (0,)
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
    mean, var = x.mean(axis=r), x.var(axis=r)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gm.reshape(shape) + bt.reshape(shape)


def _np_bn_infer(x: np.ndarray, gm: np.ndarray, bt: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    sh = (1, -1, 1, 1)
    return (x - m.reshape(sh)) / np.sqrt(v.reshape(sh) + 1e-3) * gm.reshape(sh) + bt.reshape(sh)


def _np_layer_norm(x: np.ndarray, gm: np.ndarray, bt: np.ndarray) -> np.ndarray:
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3) * gm + bt


def _nn_cases() -> list[Case]:
    from graphnn.ir.ops import conv as c
    from graphnn.ir.ops import norm

    from ..ir.test_conv import ref_conv2d

    X = In(("B", 2, 5, 6))
    W = In((3, 2, 3, 2))
    C2 = In((2,))
    P2 = In((2,), draw="pos")
    return [
        Case("conv2d", (X, W), lambda x, w: gn.conv2d(x, w, (2, 1), 1), lambda x, w: ref_conv2d(x, w, (2, 1), (1, 1))),
        Case("conv2d_input_grad", (In(("B", 3, 3, 7)), W),
             lambda gy, w: c.conv2d_input_grad(gy, w, (5, 6), (2, 1), 1)),
        Case("conv2d_weight_grad", (X, In(("B", 3, 3, 7))),
             lambda x, gy: c.conv2d_weight_grad(x, gy, (3, 2), (2, 1), 1)),
        Case("batch_norm", (X, P2, C2, C2, P2), lambda x, gm, bt, m, v: gn.batch_norm(x, gm, bt, m, v, eps=1e-3).y,
             lambda x, gm, bt, m, v: _np_bn_train(x, gm, bt)),
        # eps comparable to the variance: sum(y**2) then depends on x, which the second-order check needs.
        Case("batch_norm_train", (X, P2, C2), lambda x, gm, bt: norm.batch_norm_train(x, gm, bt, 0.5)[0],
             lambda x, gm, bt: _np_bn_train(x, gm, bt, 0.5)),
        Case("batch_norm_train", (In((4, 2, 3, 2)), P2, C2), _bn_stats, None, "stats"),
        Case("batch_norm_infer", (X, P2, C2, C2, P2), lambda x, gm, bt, m, v: norm.batch_norm_infer(x, gm, bt, m, v, 1e-3),
             _np_bn_infer),
        Case("layer_norm", (In(("B", 5)), In((5,), draw="pos"), In((5,))),
             lambda x, gm, bt: gn.layer_norm(x, gm, bt, eps=1e-3), _np_layer_norm),
        Case("dropout", (X, In((), "int64", "label:1000")), lambda x, s: gn.dropout(x, 0.3, seed=1, step=s)),
    ]


CASES += _nn_cases()

# Ops that never reach a backend: they are expanded by a pass before lowering.
# Ops no backend sees (Op.lowered says which pass replaces them): no kernel, no case.
LOWERED_BY_PASSES = {name: op.lowered for name, op in registry().items() if op.lowered is not None}


def build_case(case: Case, dtype: str | None = None) -> tuple[gn.Graph, list[gn.Value], gn.Value]:
    """A graph with one input per spec (float inputs optionally re-typed to `dtype`) and the case's output."""
    with gn.Graph(f"case_{case.op}") as g:
        ins = []
        for i, s in enumerate(case.inputs):
            dt = dtype if (dtype and s.dtype.startswith("float")) else s.dtype
            ins.append(gn.input(f"in{i}", tuple("batch" if d == "B" else d for d in s.shape), dt))
        out = case.build(*ins)
    return g, ins, out

# ---- collectives (issue 18): one process is one rank, where all_reduce is the identity --------------------
from graphnn.ir.ops.collective import all_reduce  # noqa: E402

CASES += [
    Case("all_reduce", (In(("B", 4)),), lambda x: all_reduce(x)[0], lambda x: x, "one"),
    Case("all_reduce", (In((2, 4)), In((3,))), lambda x, b: gn.concat([gn.reshape(v, (-1,)) for v in all_reduce(x, b)], 0),
         lambda x, b: np.concatenate([x.reshape(-1), b]), "bucket-of-2"),
]

# ---- indexing (issue 17): gather (np.take) and its adjoint scatter_add, with repeated and negative indices ------
def _np_scatter_add(u: np.ndarray, i: np.ndarray, shape: tuple, axis: int) -> np.ndarray:
    out = np.zeros(shape, u.dtype)
    for pos in np.ndindex(*i.shape):  # one row at a time: repeated indices accumulate
        src = (slice(None),) * axis + pos
        dst = (slice(None),) * axis + (i[pos],)
        out[dst] += u[src]
    return out


def _scatter(u: gn.Value, i: gn.Value) -> gn.Value:
    from graphnn.ir.ops.indexing import scatter_add

    return scatter_add(u, i, (3, 5, 2), axis=1)


CASES += [
    Case("gather", (In((6, 4)), In(("B", 3), "int64", "label:6")), gn.gather, lambda x, i: np.take(x, i, axis=0),
         differentiable=(0,)),
    Case("gather", (In((3, 5, 2)), In((4,), "int32", "label:5")), lambda x, i: gn.gather(x, i - 2, axis=-2),
         lambda x, i: x[:, i.astype(np.int64) - 2], "negative-axis1", differentiable=(0,)),
    Case("scatter_add", (In((3, 2, 4, 2)), In((2, 4), "int64", "label:5")), _scatter,
         lambda u, i: _np_scatter_add(u, i, (3, 5, 2), 1), differentiable=(0,)),
]


# ---- smooth activations (issue 17): erf from math.erf per element; GELU both forms; SiLU -------------------
def _np_erf(a: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(a).astype(a.dtype)


_X = In(("B", 5), draw="normal")
CASES += [
    Case("erf", (_X,), gn.erf, _np_erf),
    Case("erf", (In((3, 4), draw="distinct"),), gn.erf, _np_erf, "wide"),  # |x| up to ~2: both tails
    Case("gelu", (_X,), gn.gelu, lambda a: a * 0.5 * (1 + _np_erf(a / np.sqrt(2)))),
    Case("gelu", (_X,), lambda a: gn.gelu(a, approximate="tanh"),
         lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3))), "tanh"),
    Case("silu", (In((3, 4), draw="distinct"),), gn.silu, lambda a: a / (1 + np.exp(-a))),
]

# ---- shape builders (issue 17): squeeze/unsqueeze/stack/split are compositions of slice and concat, checked here
# through every table of those ops; tile and cumsum are ops of their own.
def _split_mix(a: gn.Value) -> gn.Value:
    parts = gn.split(a, [1, 3, 0, 2], axis=-1)
    return gn.concat([p * float(i + 1) for i, p in enumerate(parts)], axis=1)


def _np_split_mix(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[:, :1], 2 * a[:, 1:4], 4 * a[:, 4:]], axis=1)


def _np_cumsum(a: np.ndarray, axis: int, exclusive: bool, reverse: bool) -> np.ndarray:
    y = np.flip(a, axis) if reverse else a
    s = np.cumsum(y, axis=axis, dtype=a.dtype)
    if exclusive:
        s = s - y  # the reference may round differently from the kernel's shift; inputs are small
    return np.flip(s, axis) if reverse else s


CASES += [
    Case("slice", (In(("B", 1, 3, 1)),), lambda a: gn.squeeze(a, (1, -1)), lambda a: a.squeeze((1, 3)), "squeeze"),
    Case("slice", (In(("B", 1, 3, 1)),), gn.squeeze, lambda a: a.reshape(a.shape[0], 3), "squeeze-all-static"),
    Case("slice", (In(("B", 3)),), lambda a: gn.unsqueeze(a, (0, -1)), lambda a: a[None, :, :, None], "unsqueeze"),
    Case("concat", (In(("B", 3)), In(("B", 3))), lambda a, b: gn.stack([a, b, a], axis=1),
         lambda a, b: np.stack([a, b, a], axis=1), "stack"),
    Case("concat", (In(("B", 3)),), lambda a: gn.stack([a, a * 2.0], axis=-1), lambda a: np.stack([a, a * 2], -1),
         "stack-last"),
    Case("concat", (In(("B", 6)),), _split_mix, _np_split_mix, "split"),
    Case("slice", (In((4, 6)),), lambda a: gn.split(a, 2)[1], lambda a: np.split(a, 2)[1], "split-equal"),
    Case("tile", (In(("B", 2, 3)),), lambda a: gn.tile(a, (1, 3, 2)), lambda a: np.tile(a, (1, 3, 2))),
    Case("tile", (In((2, 3)),), lambda a: gn.tile(a, (2, 1, 2)), lambda a: np.tile(a, (2, 1, 2)), "new-axis"),
    Case("tile", (In((3,)),), lambda a: gn.tile(a, 0), lambda a: np.tile(a, 0), "zero"),
    Case("cumsum", (In(("B", 5)),), lambda a: gn.cumsum(a, 1), lambda a: np.cumsum(a, 1)),
    Case("cumsum", (In((3, "B", 2)),), lambda a: gn.cumsum(a, -2, exclusive=True, reverse=True),
         lambda a: _np_cumsum(a, 1, True, True), "exclusive-reverse"),
    Case("cumsum", (In((4, 3)),), lambda a: gn.cumsum(a, 0, exclusive=True), lambda a: _np_cumsum(a, 0, True, False),
         "exclusive"),
]

# matmul over any leading batch dims (issue 17: attention's (B, heads, T, d) products), broadcasting both ways
CASES += [
    Case("matmul", (In(("B", 2, 3, 5)), In((1, 5, 4))), lambda a, b: a @ b, lambda a, b: a @ b, "batch-4d"),
    Case("matmul", (In((3, 1, 2, 4)), In((2, 4, 3))), lambda a, b: a @ b, lambda a, b: a @ b, "batch-broadcast"),
]


# A family's cases may live in tests/conformance/cases_<family>.py (a module-level CASES list of `Case`, importing
# `In`, `Case` and helpers from here); they are collected last, in file-name order.
def _family_cases() -> list[Case]:
    import importlib
    import pathlib

    out: list[Case] = []
    for path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
        out += importlib.import_module(f"{__package__}.{path.stem}").CASES
    return out


CASES += _family_cases()
