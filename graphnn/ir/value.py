"""`Value`, the IR's immutable SSA tensor, and the table of builder functions behind its Python operators.

Imports nothing else from graphnn except sibling ir modules (errors, types); a value reaches its graph through
its `graph` field, never through an import.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from .errors import TraceError
from .types import Dim, TensorType

if TYPE_CHECKING:
    from .graph import Graph, Node

_ids = itertools.count(1)

# The builder functions behind Value's Python operators and NumPy hooks ("add" -> elementwise.add, "bool" ->
# builder.value_as_bool, ...). The op builders import this module, so it cannot import them: graphnn/ir/operators.py
# fills the table, and graphnn/ir/__init__.py imports it right after this module (a test checks every key is set).
OPERATORS: dict[str, Callable[..., Any]] = {}


def next_id() -> int:
    return next(_ids)


def reserve_ids(top: int) -> None:
    """Make every later id larger than `top` (a loaded graph keeps its ids; new values must not collide)."""
    global _ids
    nxt = next(_ids)
    _ids = itertools.count(max(nxt, top + 1))


@dataclass(frozen=True, eq=False)
class Value:
    """An immutable SSA tensor of a graph; its static type is known from creation.

    `==` is identity (values are dict keys, e.g. in `updates=`); use `gn.equal(a, b)` for the elementwise
    comparison. NumPy arrays next to a value become constants (`np.ones(3) + x` is one graph op); NumPy
    functions (`np.sum(x)`) cannot see a graph value's data: use gn.sum, gn.mean, ... instead.
    """

    id: int
    name: str
    raw_type: TensorType
    kind: str  # "input" | "param" | "const" | "state" | "node"
    graph: "Graph" = field(repr=False, compare=False)

    @property
    def type(self) -> TensorType:
        """The static type, with symbolic dims resolved through the graph's unifications."""
        return self.graph.resolve(self.raw_type)

    @property
    def shape(self) -> tuple[Dim, ...]:
        """The static shape (ints and symbolic dim names)."""
        return self.type.shape

    @property
    def dtype(self) -> str:
        """The dtype name, e.g. 'float32'."""
        return self.raw_type.dtype

    @property
    def ndim(self) -> int:
        """The rank."""
        return len(self.raw_type.shape)

    @property
    def producer(self) -> "Node | None":
        """The node that computes this value (None for inputs, params, state, constants)."""
        return self.graph.producer.get(self.id)

    def __repr__(self) -> str:
        return f"<Value {self.name}: {self.type}>"

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:  # identity semantics; use gn.equal for elementwise
        return self is other

    def __bool__(self) -> bool:
        return OPERATORS["bool"](self)

    def __float__(self) -> float:
        return OPERATORS["data"](self, "float()")

    def __int__(self) -> int:
        return OPERATORS["data"](self, "int()")

    # NumPy interop: a NumPy ufunc on graph values (`np.exp(x)`, `arr + x`, `np.maximum(x, 0)`) becomes the
    # graph op of the same meaning, arrays becoming constants, instead of an object array of per-element
    # nodes; ufunc methods (reduce, at, ...) and other NumPy functions get a clear error.
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return OPERATORS["ufunc"](ufunc, method, inputs, kwargs)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return OPERATORS["numpy"](self, "np.asarray()/np.array()")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return OPERATORS["numpy"](self, f"np.{getattr(func, '__name__', func)}()")

    def __len__(self) -> int:
        if not self.raw_type.shape:
            raise TypeError(f"len() of a rank-0 graph value {self.name}")
        n = self.type.shape[0]
        if isinstance(n, str):
            return OPERATORS["data"](self, f"len() (its leading dim {n!r} is symbolic; declare it concrete, or use "
                                           "graph ops that do not need its size)")
        return n

    def __iter__(self) -> Iterator["Value"]:
        """Iterate over the leading axis when it is concrete: yields x[0], x[1], ..."""
        if not self.raw_type.shape:
            raise TraceError(f"cannot iterate over the rank-0 graph value {self.name} ({self.type})")
        n = self.type.shape[0]
        if isinstance(n, str):
            OPERATORS["data"](self, f"iteration (its leading dim {n!r} is symbolic, so the number of rows is not "
                                    "known when the graph is built; declare a concrete size or use a batched op)")
        return (self[i] for i in range(n))

    # Operator overloading delegates to the op builders (NumPy broadcasting rules).
    def __abs__(self) -> "Value":
        return OPERATORS["abs"](self)

    def __add__(self, o: Any) -> "Value":
        return OPERATORS["add"](self, o)

    def __radd__(self, o: Any) -> "Value":
        return OPERATORS["add"](o, self)

    def __sub__(self, o: Any) -> "Value":
        return OPERATORS["sub"](self, o)

    def __rsub__(self, o: Any) -> "Value":
        return OPERATORS["sub"](o, self)

    def __mul__(self, o: Any) -> "Value":
        return OPERATORS["mul"](self, o)

    def __rmul__(self, o: Any) -> "Value":
        return OPERATORS["mul"](o, self)

    def __truediv__(self, o: Any) -> "Value":
        return OPERATORS["div"](self, o)

    def __rtruediv__(self, o: Any) -> "Value":
        return OPERATORS["div"](o, self)

    def __pow__(self, o: Any) -> "Value":
        return OPERATORS["pow"](self, o)

    def __rpow__(self, o: Any) -> "Value":
        return OPERATORS["pow"](o, self)

    def __neg__(self) -> "Value":
        return OPERATORS["neg"](self)

    def __matmul__(self, o: Any) -> "Value":
        return OPERATORS["matmul"](self, o)

    def __rmatmul__(self, o: Any) -> "Value":
        return OPERATORS["matmul"](o, self)

    def __gt__(self, o: Any) -> "Value":
        return OPERATORS["greater"](self, o)

    def __lt__(self, o: Any) -> "Value":
        return OPERATORS["less"](self, o)

    def __ge__(self, o: Any) -> "Value":
        return OPERATORS["greater_equal"](self, o)

    def __le__(self, o: Any) -> "Value":
        return OPERATORS["less_equal"](self, o)

    def __getitem__(self, index: Any) -> "Value":
        return OPERATORS["getitem"](self, index)

    @property
    def T(self) -> "Value":
        return OPERATORS["transpose"](self)

    def reshape(self, *shape: Any) -> "Value":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return OPERATORS["reshape"](self, shape)

    def astype(self, dtype: Any) -> "Value":
        return OPERATORS["cast"](self, dtype)

    # Method forms of the common reductions and reshapes (thin wrappers over gn.sum, gn.transpose, ...).
    def sum(self, axis: Any = None, keepdims: bool = False) -> "Value":
        """gn.sum(x, axis, keepdims)."""
        return OPERATORS["sum"](self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Value":
        """gn.mean(x, axis, keepdims)."""
        return OPERATORS["mean"](self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> "Value":
        """gn.max(x, axis, keepdims)."""
        return OPERATORS["max"](self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> "Value":
        """gn.min(x, axis, keepdims)."""
        return OPERATORS["min"](self, axis, keepdims)

    def argmax(self, axis: int = -1, keepdims: bool = False) -> "Value":
        """gn.argmax(x, axis, keepdims)."""
        return OPERATORS["argmax"](self, axis, keepdims)

    def transpose(self, *perm: Any) -> "Value":
        """gn.transpose(x, perm); `x.transpose(1, 0)` and `x.transpose((1, 0))` both work."""
        if len(perm) == 1 and isinstance(perm[0], (tuple, list)):
            perm = tuple(perm[0])
        return OPERATORS["transpose"](self, perm or None)

    def flatten(self) -> "Value":
        """x.reshape(-1)."""
        return OPERATORS["reshape"](self, (-1,))
