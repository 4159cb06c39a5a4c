"""Layers: objects that create parameters (under a name scope) and, called on a Value, return a Value.

Parameters are made on the first call, in the graph of the value the layer is called on; calling a layer
again shares its parameters. User-level library: may import anything from graphnn.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir.builder import param, state, transaction, user_location
from ..ir.errors import GraphError, GraphnnError, ShapeError
from ..ir.graph import Graph, Value
from ..ir.ops import conv as convops
from ..ir.ops import elementwise as ew
from ..ir.ops import indexing, shape_ops, stochastic
from ..ir.ops import nn as nnops
from ..ir.ops import norm as normops
from .init import fans

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


class Linear(Module):
    """y = x @ W + b with W of shape (in_features, out_features)."""

    base_name = "linear"

    def __init__(self, in_features: int | None, out_features: int, *, bias: bool = True, init: Any = None,
                 bias_init: Any = 0.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.in_features, self.out_features, self.bias = in_features, out_features, bias
        self.init, self.bias_init = init, bias_init

    def build(self, x: Value) -> None:
        n_in = _feature_dim(x, -1, "Linear")
        if self.in_features is not None and n_in != self.in_features:
            raise ShapeError(f"Linear({self.in_features}, {self.out_features}) at {self.scope}: input {x.name} "
                             f"has {n_in} features ({x.type})")
        self.in_features = n_in
        self.weight = self.add_param("w", (n_in, self.out_features), self.init, x.dtype)
        self.b = self.add_param("b", (self.out_features,), self.bias_init, x.dtype) if self.bias else None

    def forward(self, x: Value) -> Value:
        y = x @ self.weight
        return y + self.b if self.b is not None else y


class Embedding(Module):
    """A lookup table: integer ids of any shape -> rows of a (num, dim) weight, appended as a last axis."""

    base_name = "embedding"

    def __init__(self, num: int, dim: int, *, init: Any = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.num, self.dim, self.init = int(num), int(dim), init

    def build(self, ids: Value) -> None:
        init = self.init
        if init is None:  # N(0, 1) as PyTorch's nn.Embedding, seeded by SEED and the parameter's name
            stream = f"{self.scope}/w"
            init = lambda shape, dtype: _rng(stream).standard_normal(shape).astype(dtype)
        self.weight = self.add_param("w", (self.num, self.dim), init)

    def forward(self, ids: Value) -> Value:
        return indexing.gather(self.weight, ids, axis=0)


class Flatten(Module):
    """Collapse every axis after the first: (N, ...) -> (N, prod(...))."""

    base_name = "flatten"

    def forward(self, x: Value) -> Value:
        rest = x.shape[1:]
        if not all(isinstance(d, int) for d in rest):
            raise ShapeError(f"Flatten: {x.name}: {x.type} needs concrete non-batch dims")
        return shape_ops.reshape(x, (x.shape[0], int(np.prod(rest))))


class Maxout(Module):
    """Goodfellow et al.: `pieces` affine maps per output unit, the unit takes their maximum."""

    base_name = "maxout"

    def __init__(self, in_features: int | None, out_features: int, pieces: int, *, init: Any = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.linear = Linear(in_features, out_features * pieces, init=init, name="affine", trainable=self._trainable)
        self.pieces = pieces

    def forward(self, x: Value) -> Value:
        z = self.linear(x)
        self._params = self.linear.params
        return nnops.maxout(z, self.pieces, axis=-1)

    @property
    def params(self) -> list[Value]:
        return self.linear.params

    @Module.trainable.setter  # type: ignore[attr-defined]
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        self.linear.trainable = value


class PReLU(Module):
    """x if x > 0 else a * x with a learnable slope: one shared, or one per channel (`num_parameters`)."""

    base_name = "prelu"

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, channel_axis: int = 1, **kw: Any) -> None:
        super().__init__(**kw)
        self.num_parameters, self.init_value, self.channel_axis = num_parameters, float(init), channel_axis

    def build(self, x: Value) -> None:
        n = self.num_parameters
        if n == 1:
            self.slope = self.add_param("slope", (1,), self.init_value, x.dtype)
            return
        ax = self.channel_axis % x.ndim
        if _feature_dim(x, ax, "PReLU") != n:
            raise ShapeError(f"PReLU({n}) at {self.scope}: axis {ax} of {x.name}: {x.type} is not {n}")
        # Shaped (n, 1, ..., 1) so it broadcasts against the axes after the channel axis.
        self.slope = self.add_param("slope", (n,) + (1,) * (x.ndim - ax - 1), self.init_value, x.dtype)

    def forward(self, x: Value) -> Value:
        return ew.prelu(x, self.slope)


class LeakyReLU(Module):
    """x if x > 0 else alpha * x with a fixed alpha."""

    base_name = "leaky_relu"

    def __init__(self, alpha: float = 0.01, **kw: Any) -> None:
        super().__init__(**kw)
        self.alpha = alpha

    def forward(self, x: Value) -> Value:
        return ew.leaky_relu(x, self.alpha)


class Conv2d(Module):
    """2-D convolution over NCHW input with an (out, in, kH, kW) kernel, stride and zero padding, plus a bias."""

    base_name = "conv2d"

    def __init__(self, in_channels: int | None, out_channels: int, kernel_size: int | tuple[int, int], *,
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, bias: bool = True,
                 init: Any = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = convops.pair(kernel_size, "kernel_size")
        self.stride, self.padding, self.bias, self.init = stride, padding, bias, init

    def build(self, x: Value) -> None:
        if x.ndim != 4:
            raise ShapeError(f"Conv2d at {self.scope}: input {x.name}: {x.type} is not NCHW (rank 4)")
        c = _feature_dim(x, 1, "Conv2d")
        if self.in_channels is not None and c != self.in_channels:
            raise ShapeError(f"Conv2d({self.in_channels}, ...) at {self.scope}: input {x.name} has {c} channels")
        self.in_channels = c
        self.weight = self.add_param("w", (self.out_channels, c, *self.kernel_size), self.init, x.dtype)
        self.b = self.add_param("b", (self.out_channels, 1, 1), 0.0, x.dtype) if self.bias else None

    def forward(self, x: Value) -> Value:
        y = convops.conv2d(x, self.weight, self.stride, self.padding)
        return y + self.b if self.b is not None else y


class MaxPool2d(Module):
    """Max pooling over NCHW windows; stride defaults to the kernel size."""

    base_name = "max_pool2d"

    def __init__(self, kernel_size: int | tuple[int, int], stride: Any = None, padding: Any = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Value) -> Value:
        return convops.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class Dropout(Module):
    """Inverted dropout (scale 1/(1-p) in train mode, identity in eval mode: `gn.compile(mode=...)`)."""

    base_name = "dropout"

    def __init__(self, p: float = 0.5, seed: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.p, self.seed = p, seed

    def forward(self, x: Value) -> Value:
        return stochastic.dropout(x, self.p, seed=self.seed)


class BatchNorm(Module):
    """Batch normalization over every axis but `axis` (1 = channels): batch statistics and running-statistic
    updates in train mode, the running statistics in eval mode. A frozen layer keeps its statistics too.
    Under data parallelism each rank normalizes with its own shard's statistics; `sync=True` all-reduces them, so
    the ranks normalize with the global batch's statistics (what one process would compute)."""

    base_name = "batch_norm"

    def __init__(self, num_features: int | None = None, *, momentum: float = 0.1, eps: float = 1e-5,
                 axis: int = 1, sync: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.num_features, self.momentum, self.eps, self.axis = num_features, momentum, eps, axis
        self.sync = sync  # train-mode statistics over every MPI rank's shard (docs/distributed.md); default: per rank

    def build(self, x: Value) -> None:
        c = _feature_dim(x, self.axis, type(self).__name__)
        if self.num_features is not None and c != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}) at {self.scope}: input {x.name}: "
                             f"{x.type} has {c} features at axis {self.axis}")
        self.gamma = self.add_param("gamma", (c,), 1.0, x.dtype)
        self.beta = self.add_param("beta", (c,), 0.0, x.dtype)
        self.running_mean = state(f"{self.scope}/running_mean", (c,), x.dtype, init=0.0)
        self.running_var = state(f"{self.scope}/running_var", (c,), x.dtype, init=1.0)

    def forward(self, x: Value) -> Value:
        out = normops.batch_norm(x, self.gamma, self.beta, self.running_mean, self.running_var, self.momentum,
                                 self.eps, self.axis, sync=self.sync)
        if self._trainable:
            # Picked up by gn.train (and by users via state_updates(g)) as updates of the compiled step.
            ups = x.graph.meta.setdefault("state_updates", {})
            ups[self.running_mean.name] = out.running_mean
            ups[self.running_var.name] = out.running_var
        return out.y


class BatchNorm1d(BatchNorm):
    """BatchNorm for (N, C) or (N, C, L) inputs."""

    base_name = "batch_norm1d"


class BatchNorm2d(BatchNorm):
    """BatchNorm for NCHW inputs (statistics per channel)."""

    base_name = "batch_norm2d"


class LayerNorm(Module):
    """Layer normalization over the trailing axes `normalized_shape` with a learnable scale and shift."""

    base_name = "layer_norm"

    def __init__(self, normalized_shape: int | Sequence[int], *, eps: float = 1e-5, **kw: Any) -> None:
        super().__init__(**kw)
        self.shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps

    def build(self, x: Value) -> None:
        if tuple(x.shape[x.ndim - len(self.shape):]) != self.shape:
            raise ShapeError(f"LayerNorm{self.shape} at {self.scope}: input {x.name}: {x.type} does not end in "
                             f"{self.shape}")
        self.gamma = self.add_param("gamma", self.shape, 1.0, x.dtype)
        self.beta = self.add_param("beta", self.shape, 0.0, x.dtype)

    def forward(self, x: Value) -> Value:
        return normops.layer_norm(x, self.gamma, self.beta, axis=x.ndim - len(self.shape), eps=self.eps)


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
