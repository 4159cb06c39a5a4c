"""Normalization layers: batch norm (per-rank or synchronized statistics) and layer norm."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...ir.builder import state
from ...ir.errors import ShapeError
from ...ir.graph import Value
from ...ir.ops import norm as normops
from .module import Module, _feature_dim


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
