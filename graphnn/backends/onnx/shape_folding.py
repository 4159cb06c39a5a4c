"""Shape arithmetic folded at import: exporters compute shapes at run time (`Shape -> Gather -> Unsqueeze ->
Concat -> Reshape`, `Mul` of two dims, `Equal`/`Where` guards); graphnn knows every shape when the graph is built,
so those nodes are evaluated here, on NumPy arrays whose symbolic entries are `SymDim`s (products and exact
quotients stay symbolic, anything else is a clear GraphError). Imports graphnn.ir and the import context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import helper, numpy_helper

from ...ir.errors import GraphError
from ...ir.types import Dim, dim_div, dim_mul
from .import_context import Importer, axes_arg, check_axes, check_axis

FoldFn = Callable[[Importer, Any, dict, list], list]


class SymDim:
    """A symbolic dim inside a statically known int tensor. Products and exact quotients stay exact; a sum or
    a comparison that depends on the dim's run-time size cannot be known at import and is refused."""

    __slots__ = ("dim",)

    def __init__(self, dim: Dim) -> None:
        self.dim = dim

    def __repr__(self) -> str:
        return str(self.dim)

    def __hash__(self) -> int:
        return hash(self.dim)

    def __mul__(self, o: Any) -> Any:
        return sym(dim_mul(self.dim, _dim(o)))

    __rmul__ = __mul__

    def __floordiv__(self, o: Any) -> Any:
        return _quotient(self.dim, _dim(o))

    def __rfloordiv__(self, o: Any) -> Any:
        return _quotient(_dim(o), self.dim)

    __truediv__, __rtruediv__ = __floordiv__, __rfloordiv__

    def __add__(self, o: Any) -> Any:
        if isinstance(o, (int, np.integer)) and o == 0:
            return self
        raise GraphError(f"shape arithmetic: {self.dim} + {o} is not a product of dims; graphnn cannot express it")

    __radd__ = __add__

    def __sub__(self, o: Any) -> Any:
        if isinstance(o, SymDim) and o.dim == self.dim:
            return 0
        return self + (-o if not isinstance(o, SymDim) else _refuse(f"{self.dim} - {o.dim}"))

    def __rsub__(self, o: Any) -> Any:
        return _refuse(f"{o} - {self.dim}")

    def __neg__(self) -> Any:
        return _refuse(f"-{self.dim}")

    def __eq__(self, o: object) -> bool:  # type: ignore[override]
        if isinstance(o, SymDim):
            if o.dim == self.dim:
                return True
        elif isinstance(o, (int, np.integer)) and o < 0:
            return False  # a dim is never negative: `Equal(shape, -1)` guards fold
        raise GraphError(f"shape arithmetic: whether {self.dim} == {o} is only known at run time")

    def __ne__(self, o: object) -> bool:  # type: ignore[override]
        return not self.__eq__(o)

    def __lt__(self, o: Any) -> bool:
        if isinstance(o, (int, np.integer)) and o <= 0:
            return False
        return _refuse(f"{self.dim} < {o}")

    def __gt__(self, o: Any) -> bool:
        if isinstance(o, (int, np.integer)) and o < 0:
            return True
        return _refuse(f"{self.dim} > {o}")


def _refuse(what: str) -> Any:
    raise GraphError(f"shape arithmetic: {what} depends on a symbolic dim in a way graphnn cannot express")


def _dim(o: Any) -> Dim:
    if isinstance(o, SymDim):
        return o.dim
    if isinstance(o, (int, np.integer)) and o >= 0:
        return int(o)
    raise GraphError(f"shape arithmetic: {o!r} is not a dim")


def _quotient(a: Dim, b: Dim) -> Any:
    q = dim_div(a, b)
    if q is None:
        raise GraphError(f"shape arithmetic: {a} / {b} is not an exact quotient of dims")
    return sym(q)


def sym(d: Dim) -> Any:
    """An int stays an int; a symbolic dim becomes a `SymDim`."""
    return d if isinstance(d, int) else SymDim(d)


def shape_array(dims: list[Dim]) -> np.ndarray:
    """A shape as a static 1-D tensor: int64 when static, else an object array holding `SymDim`s."""
    if all(isinstance(d, int) for d in dims):
        return np.asarray(dims, dtype=np.int64)
    return _objects([sym(d) for d in dims])


def _objects(items: list) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def to_dims(arr: np.ndarray) -> list[Dim]:
    """A static shape tensor as dims (ints, or the symbolic dims its `SymDim`s hold)."""
    return [d.dim if isinstance(d, SymDim) else int(d) for d in np.asarray(arr).reshape(-1).tolist()]


def _tidy(a: Any) -> np.ndarray:
    """Results as arrays; an object array without symbolic entries goes back to int64 (or bool)."""
    a = np.asarray(a) if not isinstance(a, np.ndarray) else a
    if a.dtype == object:
        flat = a.reshape(-1).tolist()
        if not any(isinstance(x, SymDim) for x in flat):
            kind = bool if flat and all(isinstance(x, (bool, np.bool_)) for x in flat) else np.int64
            return np.asarray(flat, dtype=kind).reshape(a.shape)
        if a.ndim == 0:
            out = np.empty((), dtype=object)
            out[()] = a.item()
            return out
    return a


FOLDERS: dict[str, FoldFn] = {}


def folds(*op_types: str) -> Callable[[FoldFn], FoldFn]:
    def deco(fn: FoldFn) -> FoldFn:
        for t in op_types:
            FOLDERS[t] = fn
        return fn
    return deco


def _binary(f: Callable[[Any, Any], Any]) -> FoldFn:
    def fold(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
        a, b = xs
        if a.dtype == object or b.dtype == object:
            a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        return [f(a, b)]
    return fold


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX Div: integers truncate toward zero (C's rule, not Python's floor); symbolic dims divide exactly."""
    if a.dtype == object:
        return a // b
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        if np.any(b == 0):
            raise GraphError("shape arithmetic: integer division by zero")
        return (np.abs(a) // np.abs(b)) * np.sign(a) * np.sign(b)
    return a / b


_INT_DIV = _binary(_div)
FOLDERS.update({"Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply),
                "Div": _INT_DIV, "Equal": _binary(lambda a, b: _elementwise_bool(a, b, lambda x, y: x == y)),
                "Less": _binary(lambda a, b: _elementwise_bool(a, b, lambda x, y: x < y)),
                "Greater": _binary(lambda a, b: _elementwise_bool(a, b, lambda x, y: x > y)),
                "And": _binary(np.logical_and), "Or": _binary(np.logical_or), "Xor": _binary(np.logical_xor)})


def _elementwise_bool(a: np.ndarray, b: np.ndarray, f: Callable[[Any, Any], bool]) -> np.ndarray:
    a, b = np.broadcast_arrays(a, b)
    return np.asarray([bool(f(x, y)) for x, y in zip(a.reshape(-1).tolist(), b.reshape(-1).tolist())],
                      dtype=bool).reshape(a.shape)


@folds("Identity")
def _identity(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    return [xs[0]]


@folds("Not")
def _not(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    return [np.logical_not(xs[0])]


@folds("Mod")
def _mod(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    # TorchScript's MultiheadAttention writes `embed_dim % num_heads` of constants; a symbolic operand is not folded
    a, b = xs
    if a.dtype == object or b.dtype == object:
        return []
    if a.dtype.kind in "iu" and np.any(b == 0):
        raise GraphError(f"Mod {n.name}: integer division by zero in {a.tolist()} % {b.tolist()}")
    return [(np.fmod if int(attrs.get("fmod", 0)) else np.mod)(a, b)]


@folds("Trilu")
def _trilu(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    if xs[0].dtype == object or xs[0].ndim < 2:
        return []  # not foldable here: the importer row builds it (or says why not)
    k = int(xs[1].reshape(()).item()) if len(xs) > 1 else 0
    return [np.triu(xs[0], k) if int(attrs.get("upper", 1)) else np.tril(xs[0], k)]


@folds("Where")
def _where(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    c, a, b = xs
    if a.dtype == object or b.dtype == object:
        a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    return [np.where(c.astype(bool), a, b)]


@folds("Cast")
def _cast(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    to = helper.tensor_dtype_to_np_dtype(int(attrs["to"]))
    x = _tidy(xs[0])
    if x.dtype == object:
        if to.kind not in "iu":
            raise GraphError(f"Cast of the symbolic shape {list(x.reshape(-1))} to {to.name}: a symbolic dim "
                             "has no value at import")
        return [x]
    return [x.astype(to)]


@folds("Gather")
def _gather(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    data, idx = xs
    axis = check_axis(n, int(attrs.get("axis", 0)), data.ndim)
    idx = np.asarray(idx).astype(np.int64)
    size = data.shape[axis]
    if np.any((idx < -size) | (idx >= size)):
        raise GraphError(f"Gather indices {idx.tolist()} out of range for an axis of size {size}")
    out = np.take(data, idx, axis=axis)
    if not isinstance(out, np.ndarray):  # np.take of one index from an object array gives the element itself
        arr = np.empty((), dtype=object)
        arr[()] = out
        out = arr
    return [out]


@folds("Unsqueeze")
def _unsqueeze(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    axes = axes_arg(imp, n, attrs, 1)
    if not axes:
        raise GraphError("Unsqueeze needs axes (an attribute before opset 13, a constant input since)")
    x = xs[0]
    for a in sorted(check_axes(n, axes, x.ndim + len(axes))):
        x = np.expand_dims(x, a)
    return [x]


@folds("Squeeze")
def _squeeze(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    axes = axes_arg(imp, n, attrs, 1)
    x = xs[0]
    axes = check_axes(n, axes, x.ndim) if axes else [i for i, d in enumerate(x.shape) if d == 1]
    if any(x.shape[a] != 1 for a in axes):
        raise GraphError(f"Squeeze of axes {axes} of a tensor of shape {list(x.shape)}: only size-1 axes")
    return [np.squeeze(x, axis=tuple(axes))]


@folds("Concat")
def _concat(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    xs = [np.asarray(x, dtype=object) for x in xs] if any(x.dtype == object for x in xs) else xs
    return [np.concatenate(xs, axis=check_axis(n, int(attrs["axis"]), xs[0].ndim))]


@folds("Slice")
def _slice(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    x = xs[0]
    index = [slice(None)] * x.ndim
    for start, stop, axis, step in slice_params(imp, n, attrs, x.ndim):
        index[axis] = slice(start, stop, step)
    return [x[tuple(index)]]


@folds("Reshape")
def _reshape(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    x, shape = xs[0], [int(d) for d in np.asarray(xs[1]).reshape(-1)] if len(xs) > 1 else list(attrs["shape"])
    shape = [x.shape[i] if d == 0 and not attrs.get("allowzero", 0) else d for i, d in enumerate(shape)]
    return [x.reshape(shape)]


@folds("ConstantOfShape")
def _constant_of_shape(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    shape = xs[0]
    if shape.dtype == object:
        return []  # a symbolic shape: the importer row builds a broadcast instead
    value = constant_of_shape_value(attrs)
    return [np.full([int(d) for d in shape.reshape(-1)], value, dtype=value.dtype)]


@folds("Range")
def _range(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    start, limit, delta = (np.asarray(x).reshape(()) for x in xs)
    if any(x.dtype == object for x in (start, limit, delta)):
        return []  # over a symbolic limit: the importer row builds it
    if delta == 0:
        raise GraphError("Range with delta 0")
    return [np.arange(start, limit, delta, dtype=np.result_type(start, limit, delta))]


@folds("Size")
def _size(imp: Importer, n: Any, attrs: dict, xs: list) -> list:
    return [np.asarray(xs[0].size, dtype=np.int64)]


def constant_of_shape_value(attrs: dict) -> np.ndarray:
    """ConstantOfShape's fill value: a one-element tensor attribute, float32 zero by default."""
    if "value" not in attrs:
        return np.zeros((), dtype=np.float32)
    v = np.asarray(numpy_helper.to_array(attrs["value"]))
    if v.size != 1:
        raise GraphError(f"ConstantOfShape value must hold one element, got shape {list(v.shape)}")
    return v.reshape(())


def slice_params(imp: Importer, n: Any, attrs: dict, rank: int) -> list[tuple[int | None, int | None, int, int]]:
    """(start, stop, axis, step) per sliced axis, from Slice-1's attributes or the inputs of Slice-10+;
    ONNX's ±2**63 sentinels become open ends."""
    def get(i: int, what: str) -> list[int] | None:
        if len(n.input) > i and n.input[i]:
            return [int(v) for v in np.asarray(imp.need_const(n.input[i], what)).reshape(-1)]
        return None

    if imp.opset < 10 or "starts" in attrs:
        starts, ends = attrs.get("starts"), attrs.get("ends")
        axes, steps = attrs.get("axes"), None
    else:
        starts, ends, axes, steps = get(1, "starts"), get(2, "ends"), get(3, "axes"), get(4, "steps")
    if starts is None or ends is None:
        raise GraphError("Slice needs starts and ends")
    starts, ends = [int(s) for s in starts], [int(e) for e in ends]
    axes = check_axes(n, [int(a) for a in axes] if axes else list(range(len(starts))), rank)
    steps = [int(s) for s in steps] if steps else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise GraphError(f"Slice: starts {starts}, ends {ends}, axes {axes}, steps {steps} must have one entry per "
                         "axis and no zero step")
    big = 2**31 - 1  # Slice-1 models write INT32_MAX for "to the end"; later ones INT64_MAX
    out = []
    for s, e, a, st in zip(starts, ends, axes, steps):
        start = None if (st > 0 and s <= -big) or (st < 0 and s >= big) else s
        stop = None if (st > 0 and e >= big) or (st < 0 and e <= -big) else e
        out.append((start, stop, a, st))
    return out


def fold(imp: Importer, n: Any, attrs: dict) -> list | None:
    """The node's outputs as static arrays when it is shape arithmetic over statically known tensors; None when
    it is not (the importer row then builds graphnn ops)."""
    f = FOLDERS.get(n.op_type)
    if f is None or n.domain not in ("", "ai.onnx"):
        return None
    xs = []
    for name in n.input:
        if not name:
            continue
        arr = _static(imp, name)
        if arr is None:
            return None
        xs.append(arr)
    out = f(imp, n, attrs, xs)
    return [_tidy(a) for a in out] if out else None


def fold_only(imp: Importer, n: Any, attrs: dict) -> list:
    """The importer row of an op graphnn evaluates only at import: reached when an input is known only at run time."""
    raise GraphError(f"{n.op_type} {n.name}: graphnn evaluates {n.op_type} only at import, on inputs known there "
                     "(constants, shapes); here an input is computed at run time")


def _static(imp: Importer, name: str) -> np.ndarray | None:
    """A tensor known at import that folding may consume: a Constant, a folded result, or an integer
    initializer. A float initializer is a trainable parameter: it stays one."""
    if name in imp.initializers:
        arr = imp.const(name)
        return None if arr is None or arr.dtype.kind == "f" else arr
    if name in imp.static:  # a Constant, a folded result, or an input the caller gave a value (static_inputs)
        return imp.static[name]
    return None
