"""Dense layers: Linear, Embedding, Flatten, Maxout, PReLU, LeakyReLU, Dropout."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.errors import ShapeError
from ...ir.graph import Value
from ...ir.ops import elementwise as ew
from ...ir.ops import indexing, shape_ops, stochastic
from ...ir.ops import nn as nnops
from .module import Module, _feature_dim, _rng


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


class Dropout(Module):
    """Inverted dropout (scale 1/(1-p) in train mode, identity in eval mode: `gn.compile(mode=...)`)."""

    base_name = "dropout"

    def __init__(self, p: float = 0.5, seed: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.p, self.seed = p, seed

    def forward(self, x: Value) -> Value:
        return stochastic.dropout(x, self.p, seed=self.seed)
