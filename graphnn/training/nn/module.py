"""The layer base: `Module` (parameters made on first call, under a name scope), `Sequential`,
`Activation`, and the seeded default initializers every layer shares."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...ir.builder import param, transaction, user_location
from ...ir.errors import GraphError, GraphnnError, ShapeError
from ...ir.graph import Graph, Value
from ...ir.ops import elementwise as ew
from ..init import fans

SEED = 0  # default initializers derive their stream from this and the parameter's name


def _modules(m: Any) -> list[Any]:
    """`m` and every layer reachable through its attributes (Sequential's list, a custom block's fields)."""
    out, todo, seen = [], [m], set()
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        out.append(x)
        for v in vars(x).values():
            todo += [y for y in (v if isinstance(v, (list, tuple)) else [v]) if isinstance(y, Module)]
    return out


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def default_init(kind: str, name: str) -> Callable[[tuple, str], np.ndarray]:
    """He-uniform (for ReLU nets) or Glorot-uniform weights, seeded by `SEED` and the parameter name."""

    def init(shape: tuple, dtype: str) -> np.ndarray:
        fan_in, fan_out = fans(shape)
        bound = math.sqrt(6.0 / fan_in) if kind == "he" else math.sqrt(6.0 / (fan_in + fan_out))
        return _rng(name).uniform(-bound, bound, size=shape).astype(dtype)

    init.spec = f"{kind}_uniform(seed={SEED}, stream={name!r})"  # type: ignore[attr-defined]
    return init


class Module:
    """A layer. Subclasses implement `build(x)` (make parameters) and `forward(x)`."""

    base_name = "module"

    def __init__(self, *, name: str | None = None, trainable: bool = True, dtype: str = "float32") -> None:
        self.name = name or self.base_name
        self._trainable = trainable
        self.dtype = dtype
        self.graph: Graph | None = None
        self.scope: str | None = None  # full scope path, e.g. "sequential/linear_1"
        self._params: list[Value] = []

    def __call__(self, x: Value) -> Value:
        if not isinstance(x, Value):
            raise GraphError(f"{type(self).__name__} is called on a graph value, got {type(x).__name__}")
        g = x.graph
        # A layer built eagerly (on the tape) may also be traced: its eager params become the trace's params.
        if self.graph is not None and self.graph is not g and not getattr(self.graph, "is_tape", False):
            raise GraphError(f"layer {self.scope} belongs to graph {self.graph.name!r}, called on {g.name!r}")
        # A failing call (a wrong input shape, say) leaves the graph and every layer involved as they were.
        saved_layers = [(m, dict(m.__dict__), list(m._params)) for m in _modules(self)]
        try:
            with transaction(g):
                return self._call(x, g)
        except BaseException as e:
            g.names.difference_update(m.scope for m, d, _ in saved_layers if d.get("scope") is None and m.scope)
            for m, d, ps in saved_layers:
                m.__dict__.clear()
                m.__dict__.update(d)
                m._params = ps
            if isinstance(e, GraphnnError) and not getattr(e, "decorated", False):
                err = type(e)(f"{e}\n  at: {user_location()}")
                err.decorated = True  # type: ignore[attr-defined]
                raise err from None
            raise

    def _call(self, x: Value, g: Graph) -> Value:
        with g.as_current():
            prefix = "/".join(g.scopes)
            if self.scope is None:
                self.graph = g
                self.scope = g.unique_name(f"{prefix}/{self.name}" if prefix else self.name)
            saved = g.scopes
            g.scopes = [self.scope]  # joined with "/" by the graph, so this is the full path
            try:
                if not self._built:
                    self.build(x)
                    self._built = True
                return self.forward(x)
            finally:
                g.scopes = saved

    _built = False

    def build(self, x: Value) -> None:
        """Create parameters from the first input's type."""

    def forward(self, x: Value) -> Value:
        raise NotImplementedError

    def add_param(self, local: str, shape: Sequence[int], init: Any, dtype: str | None = None) -> Value:
        """Make a parameter named `<scope>/<local>`, registered with this layer."""
        assert self.scope is not None
        full = f"{self.scope}/{local}"
        if init is None:
            init = default_init("he", full)
        p = param(full, tuple(shape), dtype or self.dtype, init=init, trainable=self._trainable)
        self._params.append(p)
        return p

    @property
    def params(self) -> list[Value]:
        """This layer's parameters (after its first call)."""
        return list(self._params)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze this layer: optimizers built afterwards skip frozen parameters."""
        self._trainable = bool(value)
        for p in self.params:
            p.graph.param_info[p.name].trainable = self._trainable

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scope or self.name}>"


def _feature_dim(x: Value, axis: int, who: str) -> int:
    d = x.shape[axis]
    if not isinstance(d, int):
        raise ShapeError(f"{who}: input {x.name}: {x.type} needs a concrete size at axis {axis}, got {d!r}")
    return d


def state_updates(g: Graph) -> dict[str, Value]:
    """The state updates layers registered (batch-norm running statistics), for `gn.compile(updates=...)`."""
    return dict(g.meta.get("state_updates", {}))


class Activation(Module):
    """A parameter-free function as a layer (ReLU, Tanh, Sigmoid, or any Value -> Value)."""

    def __init__(self, fn: Callable[[Value], Value], name: str, **kw: Any) -> None:
        super().__init__(name=name, **kw)
        self.fn = fn

    def forward(self, x: Value) -> Value:
        return self.fn(x)


def ReLU() -> Activation:
    """max(x, 0) as a layer."""
    return Activation(ew.relu, "relu")


def Tanh() -> Activation:
    """tanh as a layer."""
    return Activation(ew.tanh, "tanh")


def Sigmoid() -> Activation:
    """The logistic sigmoid as a layer."""
    return Activation(ew.sigmoid, "sigmoid")


class Sequential(Module):
    """Layers applied in order; parameters are named `<sequential scope>/<layer scope>/...`."""

    base_name = "sequential"

    def __init__(self, *layers: Module | Callable[[Value], Value], **kw: Any) -> None:
        super().__init__(**kw)
        self.layers = list(layers)

    def forward(self, x: Value) -> Value:
        for layer in self.layers:
            x = layer(x)
        return x

    @property
    def params(self) -> list[Value]:
        return [p for layer in self.layers if isinstance(layer, Module) for p in layer.params]

    @Module.trainable.setter  # type: ignore[attr-defined]
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self.layers:
            if isinstance(layer, Module):
                layer.trainable = value

    def __getitem__(self, i: int) -> Module | Callable[[Value], Value]:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)
