"""The import table, keyed by ONNX op type: each row builds graphnn ops for one ONNX node (the lowering
table read backwards, plus Gemm, Flatten, Constant, Clip, BatchNormalization and friends).

Imports graphnn.ir only (and the onnx package).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from onnx import numpy_helper

from ...ir.errors import GraphError
from ...ir.graph import Value
from ...ir.op_registry import registry
from ...ir.types import Dim

if TYPE_CHECKING:
    from .importer import Importer

ImportFn = Callable[["Importer", Any, dict], list]
IMPORTERS: dict[str, ImportFn] = {}
REQUIRES_OP: dict[str, str] = {"Conv": "conv2d", "MaxPool": "max_pool2d", "LayerNormalization": "layer_norm",
                               "If": "cond"}  # rows that need a graphnn op


def importer(*op_types: str) -> Callable[[ImportFn], ImportFn]:
    def deco(f: ImportFn) -> ImportFn:
        for t in op_types:
            IMPORTERS[t] = f
        return f

    return deco


def _ins(imp: Importer, n: Any) -> list[Value]:
    return [imp.value(i) for i in n.input if i]


def _simple(op_type: str, op: str, attr_map: Callable[[dict], dict] | None = None) -> None:
    def f(imp: Importer, n: Any, attrs: dict) -> list:
        return [imp.op(op, _ins(imp, n), attr_map(attrs) if attr_map else {}, n.output[0])]

    IMPORTERS[op_type] = f


for _t, _op in {
    "Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Greater": "greater", "Less": "less",
    "GreaterOrEqual": "greater_equal", "LessOrEqual": "less_equal", "Equal": "equal", "Neg": "neg", "Abs": "abs",
    "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh",
    "Softplus": "softplus", "Sign": "sign", "Identity": "identity", "Where": "where", "MatMul": "matmul",
    "PRelu": "prelu",
}.items():
    _simple(_t, _op)
_simple("LeakyRelu", "leaky_relu", lambda a: {"alpha": float(a.get("alpha", 0.01))})


@importer("Cast")
def _cast(imp: Importer, n: Any, attrs: dict) -> list:
    from .importer import _dtype

    return [imp.op("cast", _ins(imp, n), {"dtype": _dtype(attrs["to"], f"Cast {n.name} target")}, n.output[0])]


@importer("ArgMax")
def _argmax(imp: Importer, n: Any, attrs: dict) -> list:
    if attrs.get("select_last_index", 0):
        raise GraphError(f"ArgMax {n.name}: select_last_index=1 is not supported (graphnn picks the first max)")
    a = {"axis": int(attrs.get("axis", 0)), "keepdims": bool(attrs.get("keepdims", 1))}
    return [imp.op("argmax", _ins(imp, n), a, n.output[0])]


@importer("Transpose")
def _transpose(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    perm = tuple(attrs.get("perm", range(x.ndim - 1, -1, -1)))
    return [imp.op("transpose", [x], {"perm": perm}, n.output[0])]


@importer("Pow")
def _pow(imp: Importer, n: Any, attrs: dict) -> list:
    x, y = _ins(imp, n)
    if y.dtype != x.dtype:  # ONNX lets the exponent have its own type; graphnn casts explicitly
        y = imp.op("cast", [y], {"dtype": x.dtype})
    return [imp.op("pow", [x, y], {}, n.output[0])]


@importer("Max", "Min", "Sum")
def _variadic(imp: Importer, n: Any, attrs: dict) -> list:
    op = {"Max": "maximum", "Min": "minimum", "Sum": "add"}[n.op_type]
    xs = _ins(imp, n)
    acc = xs[0]
    for i, x in enumerate(xs[1:]):
        acc = imp.op(op, [acc, x], {}, n.output[0] if i == len(xs) - 2 else None)
    return [acc if len(xs) > 1 else imp.op("identity", [acc], {}, n.output[0])]


@importer("Constant")
def _constant(imp: Importer, n: Any, attrs: dict) -> list:
    if "value" in attrs:
        return [numpy_helper.to_array(attrs["value"])]
    for key, dt in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                    ("value_ints", np.int64)):
        if key in attrs:
            return [np.asarray(attrs[key], dtype=dt)]
    raise GraphError(f"Constant {n.name}: only tensor, float(s) and int(s) values are supported")


def _axes(imp: Importer, n: Any, attrs: dict, input_index: int) -> list[int] | None:
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(n.input) > input_index and n.input[input_index]:
        return [int(a) for a in imp.need_const(n.input[input_index], "axes")]
    return None


@importer("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin")
def _reduce(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axes = _axes(imp, n, attrs, 1)
    if not axes and attrs.get("noop_with_empty_axes", 0):
        return [imp.op("identity", [x], {}, n.output[0])]
    op = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min"}[n.op_type]
    axes_attr = None if not axes else tuple(sorted(a % x.ndim for a in axes))
    return [imp.op(op, [x], {"axes": axes_attr, "keepdims": bool(attrs.get("keepdims", 1))}, n.output[0])]


@importer("Softmax", "LogSoftmax")
def _softmax(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axis = int(attrs.get("axis", -1 if imp.opset >= 13 else 1)) % max(x.ndim, 1)
    if imp.opset < 13 and axis != x.ndim - 1:  # before 13 the op flattened to 2-D at `axis`
        raise GraphError(f"{n.op_type} {n.name}: opset {imp.opset} semantics with axis {axis} of a rank-{x.ndim} "
                         "input (coerced to 2-D) is not supported; re-export with opset >= 13")
    return [imp.op("softmax" if n.op_type == "Softmax" else "log_softmax", [x], {"axis": axis}, n.output[0])]


def _reshape_target(x: Value, shape: list[int], allowzero: bool) -> tuple[Dim, ...]:
    return tuple(x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(shape))


def _dims(arr: np.ndarray) -> list:
    """A static shape tensor as dims: ints, or symbolic dim names carried by Shape (see `_shape`)."""
    return [d if isinstance(d, str) else int(d) for d in np.asarray(arr).reshape(-1).tolist()]


@importer("Shape")
def _shape(imp: Importer, n: Any, attrs: dict) -> list:
    # Shapes are known when the graph is built: a symbolic dim travels as its name in an object array, so
    # Shape -> Gather/Slice -> Concat -> Reshape/Expand chains (how exporters spell dynamic shapes) stay static.
    shape = list(imp.value(n.input[0]).shape)
    start, end = attrs.get("start", 0), attrs.get("end", None)
    dims = shape[start:end]
    return [np.asarray(dims, dtype=np.int64 if all(isinstance(d, int) for d in dims) else object)]


@importer("Gather")
def _gather(imp: Importer, n: Any, attrs: dict) -> list:
    data, idx = imp.const(n.input[0]), imp.const(n.input[1])
    if data is None or idx is None:
        raise GraphError(f"Gather {n.name}: only gathers from shapes and constants are supported (graphnn has no "
                         "gather op)")
    return [np.take(data, idx.astype(np.int64), axis=int(attrs.get("axis", 0)))]


@importer("Reshape")
def _reshape(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    shape = _dims(imp.need_const(n.input[1], "the target shape"))
    return [imp.op("reshape", [x], {"shape": _reshape_target(x, shape, bool(attrs.get("allowzero", 0)))},
                   n.output[0])]


@importer("Flatten")
def _flatten(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axis = int(attrs.get("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis  # ONNX allows [-r, r]
    head, tail = x.shape[:axis], x.shape[axis:]

    def prod(ds: tuple) -> Dim:
        if all(isinstance(d, int) for d in ds):
            return math.prod(ds)
        if len(ds) == 1:
            return ds[0]
        return -1

    target = (prod(head), prod(tail))
    if target.count(-1) > 1:
        raise GraphError(f"Flatten {n.name}: cannot flatten {x.type} at axis {axis} with symbolic dims on both sides")
    return [imp.op("reshape", [x], {"shape": target}, n.output[0])]


@importer("Concat")
def _concat(imp: Importer, n: Any, attrs: dict) -> list:
    statics = [imp.const(i) for i in n.input]
    if all(s is not None for s in statics) and not any(i in imp.vals for i in n.input):
        return [np.concatenate([np.asarray(s) for s in statics], axis=int(attrs["axis"]))]  # shape arithmetic
    xs = _ins(imp, n)
    return [imp.op("concat", xs, {"axis": int(attrs["axis"]) % xs[0].ndim}, n.output[0])]


@importer("Squeeze")
def _squeeze(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axes = _axes(imp, n, attrs, 1)
    drop = {a % x.ndim for a in axes} if axes else {i for i, d in enumerate(x.shape) if d == 1}
    index = tuple(("int", 0) if i in drop else ("slice", None, None, 1) for i in range(x.ndim))
    return [imp.op("slice", [x], {"index": index}, n.output[0])]


@importer("Unsqueeze")
def _unsqueeze(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axes = _axes(imp, n, attrs, 1) or []
    rank = x.ndim + len(axes)
    new = {a % rank for a in axes}
    index = tuple(("new",) if i in new else ("slice", None, None, 1) for i in range(rank))
    return [imp.op("slice", [x], {"index": index}, n.output[0])]


@importer("Slice")
def _slice(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    get = lambda i, what: [int(v) for v in imp.need_const(n.input[i], what)] if len(n.input) > i and n.input[i] else None
    starts, ends = get(1, "starts"), get(2, "ends")
    axes = get(3, "axes") or list(range(len(starts)))
    steps = get(4, "steps") or [1] * len(starts)
    big = 2**62
    items: list[tuple] = [("slice", None, None, 1)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        start = None if (st > 0 and s <= -big) or (st < 0 and s >= big) else s
        stop = None if (st > 0 and e >= big) or (st < 0 and e <= -big) else e
        items[a % x.ndim] = ("slice", start, stop, st)
    return [imp.op("slice", [x], {"index": tuple(items)}, n.output[0])]


@importer("Expand")
def _expand(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    shape = _dims(imp.need_const(n.input[1], "the target shape"))
    rank = max(len(shape), x.ndim)
    xs = (1,) * (rank - x.ndim) + tuple(x.shape)
    ss = [1] * (rank - len(shape)) + shape
    target = tuple(xd if sd == 1 else sd for xd, sd in zip(xs, ss))  # Expand broadcasts both ways
    return [imp.op("broadcast_to", [x], {"shape": target}, n.output[0])]


@importer("Gemm")
def _gemm(imp: Importer, n: Any, attrs: dict) -> list:
    ins = _ins(imp, n)
    a, b = ins[0], ins[1]
    if attrs.get("transA", 0):
        a = imp.op("transpose", [a], {"perm": (1, 0)})
    if attrs.get("transB", 0):
        b = imp.op("transpose", [b], {"perm": (1, 0)})
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    last = len(ins) < 3 and alpha == 1.0
    y = imp.op("matmul", [a, b], {}, n.output[0] if last else None)
    if alpha != 1.0:
        y = imp.op("mul", [y, alpha], {}, n.output[0] if len(ins) < 3 else None)
    if len(ins) == 3:
        c = ins[2] if beta == 1.0 else imp.op("mul", [ins[2], beta])
        y = imp.op("add", [y, c], {}, n.output[0])
    return [y]


@importer("Clip")
def _clip(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    lo = attrs.get("min") if imp.opset < 11 else (imp.value(n.input[1]) if len(n.input) > 1 and n.input[1] else None)
    hi = attrs.get("max") if imp.opset < 11 else (imp.value(n.input[2]) if len(n.input) > 2 and n.input[2] else None)
    y = x
    if lo is not None:
        y = imp.op("maximum", [y, lo], {}, n.output[0] if hi is None else None)
    if hi is not None:
        y = imp.op("minimum", [y, hi], {}, n.output[0])
    return [y if y is not x else imp.op("identity", [x], {}, n.output[0])]


@importer("Dropout")
def _dropout(imp: Importer, n: Any, attrs: dict) -> list:
    # Inference semantics: the output is the input (an imported graph is an inference graph).
    if len([o for o in n.output if o]) > 1:
        raise GraphError(f"Dropout {n.name}: the mask output is not supported")
    if len(n.input) > 2 and n.input[2] and bool(imp.need_const(n.input[2], "training_mode")):
        raise GraphError(f"Dropout {n.name}: training_mode=True is not supported on import")
    return [imp.op("identity", [imp.value(n.input[0])], {}, n.output[0])]


@importer("BatchNormalization")
def _batch_norm(imp: Importer, n: Any, attrs: dict) -> list:
    if attrs.get("training_mode", 0) or len(n.output) > 1 and any(n.output[1:]):
        raise GraphError(f"BatchNormalization {n.name}: only inference mode (running statistics) is supported")
    x, scale, bias, mean, var = _ins(imp, n)
    col = (1, -1) + (1,) * (x.ndim - 2)  # per-channel vectors broadcast along axis 1

    def c(v: Value) -> Value:
        return imp.op("reshape", [v], {"shape": col})

    eps = float(attrs.get("epsilon", 1e-5))
    if "batch_norm_infer" in registry():
        return [imp.op("batch_norm_infer", [x, scale, bias, mean, var], {"eps": eps, "axis": 1}, n.output[0])]
    inv = imp.op("div", [c(scale), imp.op("sqrt", [imp.op("add", [c(var), eps])])])
    y = imp.op("mul", [imp.op("sub", [x, c(mean)]), inv])
    return [imp.op("add", [y, c(bias)], {}, n.output[0])]


def _pads2(attrs: dict, n: Any) -> tuple[int, int]:
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise GraphError(f"{n.op_type} {n.name}: auto_pad is not supported; give explicit pads")
    p = list(attrs.get("pads", [0, 0, 0, 0]))
    if p[:2] != p[2:]:
        raise GraphError(f"{n.op_type} {n.name}: asymmetric pads {p} are not supported")
    return (p[0], p[1])


@importer("Conv")
def _conv(imp: Importer, n: Any, attrs: dict) -> list:
    ins = _ins(imp, n)
    if attrs.get("group", 1) != 1 or any(d != 1 for d in attrs.get("dilations", [1, 1])) or ins[0].ndim != 4:
        raise GraphError(f"Conv {n.name}: only 2-D, group 1, dilation 1 convolutions are supported")
    a = {"stride": tuple(attrs.get("strides", [1, 1])), "padding": _pads2(attrs, n)}
    y = imp.op("conv2d", ins[:2], a, n.output[0] if len(ins) < 3 else None)
    if len(ins) == 3:
        y = imp.op("add", [y, imp.op("reshape", [ins[2]], {"shape": (1, -1, 1, 1)})], {}, n.output[0])
    return [y]


@importer("MaxPool")
def _max_pool(imp: Importer, n: Any, attrs: dict) -> list:
    if attrs.get("ceil_mode", 0) or any(d != 1 for d in attrs.get("dilations", [1, 1])) or len(n.output) > 1:
        raise GraphError(f"MaxPool {n.name}: ceil_mode, dilations and the Indices output are not supported")
    k = tuple(attrs["kernel_shape"])
    a = {"kernel_size": k, "stride": tuple(attrs.get("strides", [1, 1])), "padding": _pads2(attrs, n)}
    return [imp.op("max_pool2d", [imp.value(n.input[0])], a, n.output[0])]


@importer("LayerNormalization")
def _layer_norm(imp: Importer, n: Any, attrs: dict) -> list:
    ins = _ins(imp, n)
    x = ins[0]
    axis = int(attrs.get("axis", -1)) % x.ndim
    if len([o for o in n.output if o]) > 1:
        raise GraphError(f"LayerNormalization {n.name}: the Mean and InvStdDev outputs are not supported")
    beta = ins[2] if len(ins) > 2 else imp.op("mul", [ins[1], 0.0])
    return [imp.op("layer_norm", [x, ins[1], beta], {"axis": axis, "eps": float(attrs.get("epsilon", 1e-5))},
                   n.output[0])]


@importer("If")
def _if(imp: Importer, n: Any, attrs: dict) -> list:
    from ...ir.ops.control_flow import cond
    from .importer import branch_importer, import_nodes

    def branch(body: Any) -> Callable[[], Any]:
        def fn() -> Any:
            child = branch_importer(imp)
            child.static.update({t.name: numpy_helper.to_array(t) for t in body.initializer})  # branch constants
            import_nodes(child, body.node)
            outs = [child.value(o.name) for o in body.output]
            return tuple(outs) if len(outs) > 1 else outs[0]

        fn.__name__ = body.name or "branch"
        return fn

    res = cond(imp.value(n.input[0]), branch(attrs["then_branch"]), branch(attrs["else_branch"]))
    return list(res) if isinstance(res, tuple) else [res]


def _loss_attrs(n: Any, attrs: dict, ins: list) -> dict:
    if len(ins) > 2 or "ignore_index" in attrs:
        raise GraphError(f"{n.op_type} {n.name}: class weights and ignore_index are not supported")
    red = attrs.get("reduction", b"mean")
    return {"reduction": red.decode() if isinstance(red, bytes) else red, "axis": 1}


@importer("NegativeLogLikelihoodLoss")
def _nll(imp: Importer, n: Any, attrs: dict) -> list:
    ins = _ins(imp, n)
    a = _loss_attrs(n, attrs, ins)
    logp, y = ins[0], ins[1]
    src = logp.producer
    # NLL of log(p) is graphnn's cross_entropy of p; otherwise exp() turns log-probabilities back into p.
    p = src.inputs[0] if src is not None and src.op == "log" else imp.op("exp", [logp])
    return [imp.op("cross_entropy", [p, y], a, n.output[0])]


@importer("SoftmaxCrossEntropyLoss")
def _softmax_ce(imp: Importer, n: Any, attrs: dict) -> list:
    ins = _ins(imp, n)
    a = _loss_attrs(n, attrs, ins)
    if len([o for o in n.output if o]) > 1:
        raise GraphError(f"SoftmaxCrossEntropyLoss {n.name}: the log_prob output is not supported")
    if "softmax_cross_entropy" in registry():
        return [imp.op("softmax_cross_entropy", ins[:2], a, n.output[0])]
    return [imp.op("cross_entropy", [imp.op("softmax", [ins[0]], {"axis": 1}), ins[1]], a, n.output[0])]
