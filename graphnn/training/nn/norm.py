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


class GroupNorm(Module):
    """Group normalization (Wu & He): per sample, statistics over each group of channels and all positions, then a
    learnable per-channel scale and shift (PyTorch's nn.GroupNorm)."""

    base_name = "group_norm"

    def __init__(self, num_groups: int, num_channels: int, *, eps: float = 1e-5, affine: bool = True,
                 **kw: Any) -> None:
        super().__init__(**kw)
        if num_groups <= 0 or num_channels % num_groups:
            raise ShapeError(f"GroupNorm: {num_groups} groups do not divide {num_channels} channels")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine

    def build(self, x: Value) -> None:
        c = _feature_dim(x, 1, type(self).__name__)
        if c != self.num_channels:
            raise ShapeError(f"{type(self).__name__}({self.num_channels}) at {self.scope}: input {x.name}: {x.type} "
                             f"has {c} channels")
        self.gamma = self.add_param("gamma", (c,), 1.0, x.dtype) if self.affine else None
        self.beta = self.add_param("beta", (c,), 0.0, x.dtype) if self.affine else None

    def forward(self, x: Value) -> Value:
        return normops.group_norm(x, self.num_groups, self.gamma, self.beta, self.eps)


class InstanceNorm2d(GroupNorm):
    """Instance normalization of NCHW input (one group per channel); affine=False by default, as PyTorch's, and no
    running statistics (PyTorch's track_running_stats=False)."""

    base_name = "instance_norm2d"

    def __init__(self, num_features: int, *, eps: float = 1e-5, affine: bool = False, **kw: Any) -> None:
        super().__init__(num_features, num_features, eps=eps, affine=affine, **kw)

    def build(self, x: Value) -> None:
        if x.ndim != 4:
            raise ShapeError(f"InstanceNorm2d at {self.scope}: input {x.name}: {x.type} is not NCHW (rank 4)")
        super().build(x)
