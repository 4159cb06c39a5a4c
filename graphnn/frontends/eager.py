"""Eager mode: the same gn.* ops run at once on NumPy arrays and return `EagerTensor`s recorded on a tape.

Every op still goes through `builder.apply` (same type rules, same errors) into a tape graph, and runs its
NumPy kernel from `backends/numpy/` (its family modules) right away. `gn.grad` on eager values expands the request on
the tape with the autodiff pass; the backward ops it emits run eagerly too. A user-level library: imports
anything.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends.numpy import KERNELS
from ..ir import builder, subgraph
from ..ir.builder import _materialize, _user_shape, apply
from ..ir.errors import ShapeError
from ..ir.graph import Graph, ParamInfo, Value, next_id
from ..ir.types import TensorType, normalize_dtype
from ..passes import autodiff


class Tape(Graph):
    """The eager recording: a graph whose values also have arrays. Dead parts are swept as it grows."""

    is_tape = True  # layers built on the tape may be called in a trace too (gn.nn.Module.__call__ checks `is_tape`)

    def __init__(self) -> None:
        super().__init__("eager")
        self.data: dict[int, Any] = {}  # value id -> array, for values backward rules may read
        self.live: weakref.WeakValueDictionary[int, EagerTensor] = weakref.WeakValueDictionary()
        self.busy = 0  # > 0 while a gradient is expanded (nodes must not move then)
        self.next_sweep = 1024
        self._counts: dict[str, int] = {}

    def unique_name(self, base: str) -> str:
        # A counter per base name: a long eager loop must not pay a scan per new name.
        n = self._counts.get(base, 0)
        self._counts[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def sweep(self, roots: Sequence[Value] = ()) -> None:
        """Drop recorded nodes and arrays no live EagerTensor (or `roots`) depends on (mark backwards)."""
        needed = self.drop_unneeded(set(self.live.keys()) | {v.id for v in roots})
        self.data = {k: a for k, a in self.data.items() if k in needed}
        self.prune_constants(needed)


def _unwrap(x: Any) -> Any:
    if isinstance(x, EagerTensor):
        return x.data
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(i) for i in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


@dataclass(frozen=True, eq=False, repr=False)
class EagerTensor(Value):
    """An array with a place on the gradient tape; supports the operators and ops a graph Value does."""

    data: Any = field(default=None, compare=False)
    eager = True  # class attribute: gn.cond branches at once on an eager predicate
    __array_ufunc__ = None  # ndarray (op) EagerTensor defers to our reflected operators

    def numpy(self) -> np.ndarray:
        """The array (not a copy)."""
        return self.data

    def item(self) -> Any:
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        # NumPy functions (np.sum(t)) see the array; the result is a plain ndarray, off the gradient tape.
        return func(*_unwrap(args), **_unwrap(kwargs))

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self.data)))

    def __bool__(self) -> bool:  # eager values have data: Python control flow just works
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"EagerTensor({np.array2string(self.data, threshold=8, precision=4)}, {self.type})"

    def detach(self) -> EagerTensor:
        """A new leaf with the same array: gradients do not flow through it."""
        return leaf(self.data, self.name, "input")

    def assign(self, new: Any) -> EagerTensor:
        """Write `new` into this tensor's array in place (a parameter update); not recorded on the tape."""
        arr = new.data if isinstance(new, EagerTensor) else np.asarray(new)
        if arr.shape != self.data.shape:
            raise ShapeError(f"assign to {self.name}: shape {arr.shape} != {self.data.shape}")
        np.copyto(self.data, arr, casting="same_kind")
        return self


_local = threading.local()


def current_tape() -> Tape:
    """This thread's tape (one per thread, created on first use)."""
    t = getattr(_local, "tape", None)
    if t is None:
        t = _local.tape = Tape()
    return t


@contextlib.contextmanager
def eager() -> Iterator[Tape]:
    """Inside `with gn.eager():` gn.* ops and gn.param compute at once on arrays (EagerTensor results)."""
    tape = current_tape()
    with tape:
        yield tape


def _register(tape: Tape, t: EagerTensor) -> EagerTensor:
    tape.live[t.id] = t
    return t


def leaf(value: Any, name: str = "tensor", kind: str = "input", dtype: Any = None) -> EagerTensor:
    """A tape leaf holding `value` (gradients can be taken with respect to it)."""
    tape = current_tape()
    if isinstance(value, EagerTensor):
        value = value.data
    arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=normalize_dtype(dtype))
    if dtype is None and arr.dtype == np.float64 and not isinstance(value, np.ndarray):
        arr = arr.astype(np.float32)  # Python floats are float32, as gn.constant makes them
    normalize_dtype(arr.dtype)
    # Leaves keep the user's name (tape names only label messages; a traced graph uniquifies on import).
    t = EagerTensor(next_id(), name, TensorType(arr.dtype.name, tuple(arr.shape)), kind, tape,
                    np.array(arr, copy=True, order="C") if kind != "input" or not arr.flags.writeable else arr)
    return _register(tape, t)


def tensor(value: Any, dtype: Any = None, name: str = "tensor") -> EagerTensor:
    """An eager tensor from an array or Python numbers (float64 arrays keep their dtype; Python floats are float32)."""
    return leaf(value, name, "input", dtype)


def _leaf_hook(kind: str, name: str, shape: Any, dtype: Any, init: Any, trainable: bool) -> Any:
    cur = Graph.current()
    if not isinstance(cur, Tape):
        return None
    arr = _materialize(name, _user_shape(shape), normalize_dtype(dtype), init, cur)
    return leaf(arr, name, "param" if kind == "param" and trainable else "state")


def _array(tape: Tape, v: Value) -> Any:
    if isinstance(v, EagerTensor):
        return v.data
    if v.id in tape.constants:
        return tape.constants[v.id]
    return tape.data[v.id]


def _as_tensor(tape: Tape, v: Value) -> EagerTensor:
    if isinstance(v, EagerTensor):
        return v
    return _register(tape, EagerTensor(v.id, v.name, v.raw_type, v.kind, tape, _array(tape, v)))


# graph -> {eager tensor id: the value it became there}: eager parameters closed over by a traced function
_imports: weakref.WeakKeyDictionary[Graph, dict[int, Value]] = weakref.WeakKeyDictionary()


def import_into(t: EagerTensor, g: Graph) -> Value:
    """The value eager tensor `t` becomes in static graph `g`: a parameter sharing its array, or a constant."""
    root = subgraph.root_graph(g)
    cache = _imports.setdefault(root, {})
    v = cache.get(t.id)
    if v is None:
        if t.kind in ("param", "state"):
            v = root.new_value(t.name, t.raw_type, t.kind)
            (root.params if t.kind == "param" else root.state).append(v)
            root.storage[v.name] = t.data  # the same array: compiled updates are seen eagerly and back
            root.param_info[v.name] = ParamInfo(None, t.kind == "param")
        else:
            v = builder.constant(np.array(t.data), name=t.name, graph=root)
        cache[t.id] = v
    return v


_bypass = threading.local()


def _hook(op: Any, inputs: Sequence[Any], attrs: dict, name: str | None) -> Any:
    if getattr(_bypass, "on", False):
        _bypass.on = False
        return None
    cur = Graph.current()
    tape: Tape | None = None
    for x in inputs:
        if isinstance(x, Value):
            if not isinstance(x.graph, Tape):
                tape = None
                break
            tape = x.graph
    if cur is not None and not isinstance(cur, Tape):
        if any(isinstance(x, EagerTensor) for x in inputs):  # tracing over eager parameters: import them
            return apply(op.name, [import_into(x, cur) if isinstance(x, EagerTensor) else x for x in inputs],
                         attrs, name=name)
        return None
    if tape is None:
        if any(isinstance(x, Value) for x in inputs) or not isinstance(cur, Tape):
            return None
        tape = cur
    return _run(tape, op, inputs, attrs, name)


def _run(tape: Tape, op: Any, inputs: Sequence[Any], attrs: dict, name: str | None) -> tuple[EagerTensor, ...]:
    _bypass.on = True
    try:
        with tape if Graph.current() is not tape else contextlib.nullcontext():
            outs = apply(op.name, inputs, attrs, name=name)
    finally:
        _bypass.on = False
    node = outs[0].producer
    assert node is not None
    if op.name == "grad":
        return _expand_grad(tape, node)
    with np.errstate(all="ignore"):
        res = KERNELS[op.name](np, node, {})(*[_array(tape, v) for v in node.inputs])
    res = res if len(outs) > 1 else (res,)
    # The tape keeps plain values and arrays; EagerTensors live only as long as the user holds them.
    node.inputs = tuple(Value(v.id, v.name, v.raw_type, v.kind, tape) if isinstance(v, EagerTensor) else v
                        for v in node.inputs)
    for v, x in zip(node.inputs, inputs):
        if isinstance(x, EagerTensor):
            tape.data[v.id] = x.data
    tensors = []
    for o, a in zip(outs, res):
        tape.data[o.id] = a
        tensors.append(_register(tape, EagerTensor(o.id, o.name, o.raw_type, o.kind, tape, a)))
    if len(tape.nodes) > tape.next_sweep and not tape.busy:
        tape.sweep()
        tape.next_sweep = max(1024, 2 * len(tape.nodes))
    return tuple(tensors)


def _expand_grad(tape: Tape, req: Any) -> tuple[EagerTensor, ...]:
    if not tape.busy:  # the autodiff walk is linear in the tape: drop what no live tensor needs first
        tape.sweep(req.outputs)
    tape.busy += 1
    try:
        gmap = autodiff._expand(tape, upto=req)  # the backward ops it emits run eagerly as they are made
    finally:
        tape.busy -= 1
    return tuple(_as_tensor(tape, gmap[o.id]) for o in req.outputs)


def grad(y: Any, wrt: Any, *, disconnected: str = "raise", expand: bool = False) -> Any:
    """gn.grad for static, traced and eager values; inside a trace, eager parameters name their graph params."""
    if isinstance(y, Value) and not isinstance(y.graph, Tape):
        def conv(x: Any) -> Any:
            return import_into(x, y.graph) if isinstance(x, EagerTensor) else x

        wrt = conv(wrt) if isinstance(wrt, Value) else [conv(x) for x in wrt]
    return autodiff.grad(y, wrt, disconnected=disconnected, expand=expand)


grad.__doc__ = autodiff.grad.__doc__

builder.apply_hooks.append(_hook)
builder.leaf_hooks.append(_leaf_hook)
