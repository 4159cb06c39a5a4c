"""Building graphs: inputs, parameters, constants, state, and `apply` which type-checks and adds a node.

Imports nothing else from graphnn except sibling ir modules.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .errors import DTypeError, GraphError, GraphnnError, ShapeError, TraceError
from .graph import Graph, ParamInfo, Provenance, Value
from .op import InferCtx
from .op_registry import get_op, registry
from .types import TensorType, fresh_dim, normalize_dtype

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Set by the eager/trace layers: called before a node is made, may return outputs to use instead.
apply_hooks: list[Callable[..., Any]] = []
# Consulted by param/state before declaring one: hook(kind, name, shape, dtype, init, trainable) -> value or None
# (eager mode answers with a real array parameter).
leaf_hooks: list[Callable[..., Any]] = []
# Names of the functions being traced (gn.trace, gn.cond branches), innermost last; used in messages.
trace_stack: list[str] = []


@functools.lru_cache(maxsize=4096)
def _in_pkg(filename: str) -> bool:
    # Cached: eager mode asks for the user's line on every op, and abspath per frame dominated that.
    return os.path.abspath(filename).startswith(_PKG_DIR + os.sep)


@functools.lru_cache(maxsize=4096)
def _display(filename: str) -> str:
    if filename.startswith("<"):
        return filename
    rel = os.path.relpath(filename)  # short when the script is under the working directory, else absolute
    return os.path.abspath(filename) if rel.startswith("..") else rel


def user_location(skip_pkg: bool = True) -> str:
    """file:line of the first frame outside the graphnn package (the user's line)."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not (skip_pkg and (_in_pkg(fn) or fn == contextlib.__file__)) and "<frozen" not in fn:
            return f"{_display(fn)}:{f.f_lineno}"
        f = f.f_back  # type: ignore[assignment]
    return "<unknown>"


_open_transactions: dict[int, int] = {}  # id(graph) -> nesting depth of builder transactions on it


def _size(x: Any) -> Any:
    return len(x) if isinstance(x, (list, dict)) else x


def _truncate(m: Any, n: int) -> None:
    """Drop what was added to an insertion-ordered list or dict after it had `n` entries."""
    if isinstance(m, list):
        del m[n:]
    else:
        for k in list(m)[n:]:
            del m[k]


@contextlib.contextmanager
def transaction(g: Graph) -> Iterator[None]:
    """A builder call either completes or leaves `g` exactly as it was (values, nodes, constants, storage, dim
    aliases, names, meta). Builders only append, so the snapshot is a few lengths (O(1) per call, whatever the
    graph's size); only the outermost transaction on a graph snapshots and rolls back."""
    key = id(g)
    depth = _open_transactions.get(key, 0)
    if depth:
        _open_transactions[key] = depth + 1
        try:
            yield
        finally:
            _open_transactions[key] -= 1
        return
    fields = ("inputs", "params", "state", "const_values", "nodes", "constants", "producer", "param_info",
              "dim_alias")
    sizes = {k: len(getattr(g, k)) for k in fields}
    n_stored = len(g.storage.keys())
    meta = {k: _size(v) for k, v in g.meta.items()}
    _open_transactions[key] = 1
    try:
        yield
    except BaseException:
        new_vals = [v for k in ("inputs", "params", "state", "const_values") for v in getattr(g, k)[sizes[k]:]]
        new_nodes = g.nodes[sizes["nodes"]:]
        g.names.difference_update([v.name for v in new_vals] + [n.name for n in new_nodes]
                                  + [o.name for n in new_nodes for o in n.outputs])
        for k, n in sizes.items():
            _truncate(getattr(g, k), n)
        _truncate(g.storage.values, n_stored)
        for k in [k for k in g.meta if k not in meta]:
            del g.meta[k]
        for k, was in meta.items():
            if isinstance(g.meta[k], (list, dict)):
                _truncate(g.meta[k], was)
            else:
                g.meta[k] = was
        raise
    finally:
        del _open_transactions[key]


# Python exceptions a bad builder argument raises from inside (`float("x")`, `int(None)`, an axis tuple
# indexed out of range): reported as graphnn errors naming the call, not as tracebacks from our code.
_ARG_ERRORS = (TypeError, ValueError, KeyError, IndexError, OverflowError, ZeroDivisionError, AttributeError)


def atomic(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A builder function that makes several changes (state, constants, nodes) runs as one transaction, and a
    failure from a bad argument is a graphnn error naming the function, its arguments and the user's line."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        vals = [a for a in list(args) + list(kw.values()) if isinstance(a, (Value, Graph))]
        g = (vals[0] if isinstance(vals[0], Graph) else vals[0].graph) if vals else Graph.current()
        try:
            if g is None:
                return fn(*args, **kw)
            with transaction(g):
                return fn(*args, **kw)
        except GraphnnError as e:
            if getattr(e, "decorated", False):
                raise
            raise _decorate(e, fn.__name__, args, kw, None, user_location(), g) from None
        except _ARG_ERRORS as e:
            err = GraphError(f"{fn.__name__}: bad argument: {type(e).__name__}: {e}")
            raise _decorate(err, fn.__name__, args, kw, None, user_location(), g) from None

    return wrapper


def _current(what: str) -> Graph:
    g = Graph.current()
    if g is None:
        raise GraphError(f"{what} needs an active graph: use it inside `with gn.Graph(...) as g:`")
    return g


def _user_shape(shape: Sequence[Any]) -> tuple:
    if isinstance(shape, (int, str)) or shape is None:
        shape = (shape,)
    return tuple(fresh_dim() if d is None else (int(d) if not isinstance(d, str) else d) for d in shape)


@atomic
def input(name: str, shape: Sequence[int | str | None], dtype: Any = "float32") -> Value:
    """Declare a graph input fed at call time; `None` dims become fresh symbolic dims."""
    g = _current("gn.input")
    v = g.new_value(name, TensorType(normalize_dtype(dtype), _user_shape(shape)), "input", exact=True)
    g.inputs.append(v)
    return v


def _materialize(name: str, shape: tuple, dtype: str, init: Any, g: Graph) -> np.ndarray:
    if any(isinstance(d, str) for d in shape):
        raise ShapeError(f"parameter {name!r}: shape {shape} must be concrete")
    if init is None:
        raise GraphError(f"parameter {name!r} needs init= (an array or an initializer from gn.init)")
    if callable(init):
        arr = np.asarray(init(shape, dtype))
    else:
        arr = np.asarray(init)
    if arr.shape != tuple(shape):
        if arr.ndim == 0:
            arr = np.full(shape, arr)
        else:
            raise ShapeError(f"parameter {name!r}: init has shape {arr.shape}, declared {tuple(shape)}")
    if arr.dtype.name != dtype:
        if arr.dtype.kind != np.dtype(dtype).kind and not (arr.dtype.kind in "iu" and np.dtype(dtype).kind in "iu"):
            raise DTypeError(f"parameter {name!r}: init dtype {arr.dtype.name} does not fit {dtype}")
        arr = arr.astype(dtype)
    return np.array(arr, copy=True, order="C")


def _leaf(kind: str, name: str, shape: Sequence[int], dtype: Any, init: Any, trainable: bool) -> Value:
    for hook in leaf_hooks:  # eager mode makes real-array leaves instead
        res = hook(kind, name, shape, dtype, init, trainable)
        if res is not None:
            return res
    g = _current(f"gn.{kind}")
    dtype = normalize_dtype(dtype)
    shape = _user_shape(shape)
    arr = _materialize(name, shape, dtype, init, g)
    v = g.new_value(name, TensorType(dtype, shape), kind, exact=True)
    (g.params if kind == "param" else g.state).append(v)
    g.storage[name] = arr
    spec = getattr(init, "spec", None) if kind == "param" else None
    g.param_info[name] = ParamInfo(None if spec is None else str(spec), trainable)
    return v


@atomic
def param(name: str, shape: Sequence[int], dtype: Any = "float32", init: Any = None, trainable: bool = True) -> Value:
    """Declare a parameter; its value lives in the graph's storage, shared by all compiled functions."""
    return _leaf("param", name, shape, dtype, init, trainable)


@atomic
def state(name: str, shape: Sequence[int], dtype: Any = "float32", init: Any = 0.0) -> Value:
    """Declare non-trainable state (optimizer slots, running statistics), updated through `updates=`."""
    return _leaf("state", name, shape, dtype, init, False)


@atomic
def constant(value: Any, dtype: Any = None, name: str = "const", graph: Graph | None = None) -> Value:
    """Embed a constant array in the graph."""
    g = graph or _current("gn.constant")
    arr = np.asarray(value)
    if dtype is not None:
        arr = arr.astype(normalize_dtype(dtype))
    elif arr.dtype == np.float64 and not isinstance(value, np.ndarray):
        arr = arr.astype(np.float32)  # Python floats default to float32, as in the rest of graphnn
    normalize_dtype(arr.dtype)
    v = g.new_value(name, TensorType(arr.dtype.name, tuple(arr.shape)), "const")
    g.const_values.append(v)
    arr = np.array(arr, order="C")  # not ascontiguousarray: it turns a 0-d array into shape (1,)
    arr.setflags(write=False)
    g.constants[v.id] = arr
    return v


def _graph_of(inputs: Sequence[Any], op: str) -> Graph:
    graphs = {id(x.graph): x.graph for x in inputs if isinstance(x, Value)}
    if len(graphs) > 1:
        names = ", ".join(f"{x.name} (graph {x.graph.name!r})" for x in inputs if isinstance(x, Value))
        raise GraphError(f"{op}: inputs come from different graphs: {names}")
    if graphs:
        return next(iter(graphs.values()))
    return _current(f"gn.{op}")


def as_value(x: Any, like: Value | None, g: Graph) -> Value:
    """Python scalars and arrays become constants; a scalar takes the dtype of its partner (weak typing)."""
    if isinstance(x, Value):
        return x
    if isinstance(x, (bool, int, float, np.number)) and like is not None:
        dt = like.dtype
        if isinstance(x, float) and dt not in ("float16", "float32", "float64") and not float(x).is_integer():
            raise DTypeError(f"cannot combine the float {x} with a {dt} value {like.name}; cast it first")
        return constant(np.asarray(x, dtype=dt), name="scalar", graph=g)
    if isinstance(x, np.ndarray):
        return constant(x, graph=g)
    return constant(x, graph=g)


def _fmt_inputs(inputs: Sequence[Any]) -> str:
    return ", ".join(f"{v.name}: {v.type}" if isinstance(v, Value) else repr(v) for v in inputs)


def _decorate(e: GraphnnError, op_name: str, vals: Sequence[Any], attrs: Any, name: str | None, loc: str,
              g: Graph | None) -> GraphnnError:
    """The error `e` with the op, node, input types and the user's line added (marked so it is done once)."""
    node_name = name or op_name
    detail = str(e)
    msg = (
        f"{op_name}: {detail[len(op_name) + 2:] if detail.startswith(op_name + ': ') else detail}"
        f"\n  node: {node_name} (op {op_name})\n  inputs: {_fmt_inputs(vals)}"
        + (f"\n  attrs: {attrs}" if attrs else "")
        + f"\n  at: {g.context_prov.location if g is not None and g.context_prov else loc}"
    )
    out = type(e)(msg)
    out.decorated = True  # type: ignore[attr-defined]
    return out


@contextlib.contextmanager
def checking(op_name: str, inputs: Sequence[Any], attrs: dict[str, Any] | None = None) -> Iterator[None]:
    """Builder-side validation (axes normalized before `apply`) raises decorated the way `apply` does."""
    try:
        yield
    except GraphnnError as e:
        if getattr(e, "decorated", False):
            raise
        g = next((x.graph for x in inputs if isinstance(x, Value)), None)
        raise _decorate(e, op_name, inputs, attrs, None, user_location(), g) from None


def apply(op_name: str, inputs: Sequence[Any], attrs: dict[str, Any] | None = None, *, name: str | None = None) -> tuple[Value, ...]:
    """Type-check `op_name` on `inputs` and add its node to the inputs' graph; returns its outputs. O(inputs) plus
    the type rule (names come from counters, the node is appended)."""
    op = get_op(op_name)
    for hook in apply_hooks:
        res = hook(op, inputs, attrs or {}, name)
        if res is not None:
            return res
    g = _graph_of(inputs, op_name)
    like = next((x for x in inputs if isinstance(x, Value)), None)
    loc = user_location()
    vals: tuple[Any, ...] = tuple(inputs)
    with transaction(g):  # constants made from scalars and dims unified by the type rule go if it fails
        try:
            vals = tuple(as_value(x, like, g) for x in inputs)  # inside: `int_value * 2.5` names the line too
            op.check_arity(len(vals))
            nattrs = op.normalize_attrs(attrs or {})
            types = [v.type for v in vals]
            out_types = op.infer(InferCtx(g, op_name), types, nattrs)
        except GraphnnError as e:
            if getattr(e, "decorated", False):
                raise
            raise _decorate(e, op_name, vals, attrs, name, loc, g) from None
        except _ARG_ERRORS as e:
            err = GraphError(f"{op_name}: bad argument: {type(e).__name__}: {e}")
            raise _decorate(err, op_name, vals, attrs, name, loc, g) from None
        prov = g.context_prov if g.context_prov is not None else Provenance(frozenset({loc}))
        if g.context_labels:
            prov = prov.merge(Provenance(labels=g.context_labels))
        node = g.add_node(op_name, vals, out_types, nattrs, prov, name=name)
    return node.outputs


def apply1(op_name: str, inputs: Sequence[Any], attrs: dict[str, Any] | None = None, *, name: str | None = None) -> Value:
    return apply(op_name, inputs, attrs, name=name)[0]


def value_as_data(v: Value, use: str) -> Any:
    """Raise the TraceError for Python code that needs a graph value's data (`use` says how it asked)."""
    loc = user_location()
    where = f"while tracing {trace_stack[-1]}, " if trace_stack else ""
    raise TraceError(
        f"{where}{loc} uses the data of graph value {v.name} ({v.type}) in {use}, "
        "but a static graph knows only its type, not its value. "
        "Use gn.where(cond, a, b) for an elementwise choice, or gn.cond(pred, true_fn, false_fn, *operands) "
        "to branch inside the graph"
    )


@functools.cache
def ufunc_ops() -> dict[str, str]:
    """NumPy ufunc name -> graph op of the same meaning (Op.ufunc; NumPy broadcasting and dtype rules hold for both).
    Built on first use: the op families import this module."""
    ops = {op.ufunc: name for name, op in registry().items() if op.ufunc is not None}
    return {**ops, "true_divide": ops["divide"]}  # np.true_divide's own name on NumPy < 2


def numpy_ufunc_on_values(ufunc: Any, method: str, inputs: Sequence[Any], kwargs: dict) -> Any:
    """`np.exp(x)`, `arr + x`: the graph op of the same meaning; anything else is numpy_on_value's error."""
    op = ufunc_ops().get(getattr(ufunc, "__name__", ""))
    if method == "__call__" and op is not None and not kwargs:
        return apply1(op, list(inputs))
    v = next(x for x in inputs if isinstance(x, Value))
    name = getattr(ufunc, "__name__", str(ufunc))
    return numpy_on_value(v, f"np.{name}{'' if method == '__call__' else '.' + method}()")


def numpy_on_value(v: Value, use: str) -> Any:
    """Raise the TraceError for a NumPy function applied to a graph value (it has a type, no data)."""
    f = sys._getframe(1)
    np_dir = os.path.dirname(np.__file__) + os.sep
    while f is not None and (_in_pkg(f.f_code.co_filename) or f.f_code.co_filename.startswith(np_dir)):
        f = f.f_back  # type: ignore[assignment]  # skip NumPy's dispatch frames too
    loc = f"{_display(f.f_code.co_filename)}:{f.f_lineno}" if f is not None else "<unknown>"
    where = f"while tracing {trace_stack[-1]}, " if trace_stack else ""
    raise TraceError(
        f"{where}{loc} calls {use} on graph value {v.name} ({v.type}), but a graph value has no data while "
        "the graph is built. Use gn.sum/gn.mean/gn.exp/... on graph values (NumPy arrays next to them, as in "
        "`arr + x`, become constants)"
    )


def value_as_bool(v: Value) -> bool:
    return value_as_data(v, "Python control flow (if/while/and/or/bool())")


def label(text: str) -> Any:
    """Context manager: nodes created inside carry `text` as a user label in their provenance."""

    @contextlib.contextmanager
    def cm() -> Any:
        g = _current("gn.label")
        old = g.context_labels
        g.context_labels = old | {text}
        try:
            yield
        finally:
            g.context_labels = old

    return cm()
