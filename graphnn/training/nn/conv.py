"""Convolution layers (pooling layers are in pool.py)."""

from __future__ import annotations

from typing import Any

from ...ir.errors import ShapeError
from ...ir.graph import Value
from ...ir.ops import conv as convops
from .module import Module, _feature_dim


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
