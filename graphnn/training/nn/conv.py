"""Convolution and pooling layers."""

from __future__ import annotations

from typing import Any

from ...ir.errors import ShapeError
from ...ir.graph import Value
from ...ir.ops import conv as convops
from .module import Module, _feature_dim


class _ConvBase(Module):
    """What the convolution layers share: channel checks, the weight (made on first call) and an optional bias."""

    rank = 2
    transposed = False

    def __init__(self, in_channels: int | None, out_channels: int, kernel_size: Any, *, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True, init: Any = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.in_channels, self.out_channels = in_channels, out_channels
        k = (kernel_size,) * self.rank if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(k) != self.rank or not all(isinstance(i, int) and i > 0 for i in k):
            raise ShapeError(f"{type(self).__name__}: kernel_size must be a positive int or {self.rank} of them, "
                             f"got {kernel_size!r}")
        if not isinstance(groups, int) or groups < 1 or out_channels % groups:
            raise ShapeError(f"{type(self).__name__}: groups={groups!r} does not divide out_channels={out_channels}")
        self.kernel_size, self.stride, self.padding, self.dilation = k, stride, padding, dilation
        self.groups, self.bias, self.init = groups, bias, init

    def build(self, x: Value) -> None:
        name = type(self).__name__
        if x.ndim != self.rank + 2:
            raise ShapeError(f"{name} at {self.scope}: input {x.name}: {x.type} is not N, C, {self.rank} spatial dims")
        c = _feature_dim(x, 1, name)
        if self.in_channels is not None and c != self.in_channels:
            raise ShapeError(f"{name}({self.in_channels}, ...) at {self.scope}: input {x.name} has {c} channels")
        if c % self.groups:
            raise ShapeError(f"{name} at {self.scope}: groups={self.groups} does not divide the {c} input channels "
                             f"of {x.name}: {x.type}")
        self.in_channels = c
        g = self.groups
        shape = (c, self.out_channels // g) if self.transposed else (self.out_channels, c // g)
        self.weight = self.add_param("w", (*shape, *self.kernel_size), self.init, x.dtype)
        self.b = (self.add_param("b", (self.out_channels,) + (1,) * self.rank, 0.0, x.dtype)
                  if self.bias else None)

    def conv(self, x: Value) -> Value:
        raise NotImplementedError

    def forward(self, x: Value) -> Value:
        y = self.conv(x)
        return y + self.b if self.b is not None else y


class Conv2d(_ConvBase):
    """2-D convolution over NCHW input with an (out, in/groups, kH, kW) kernel (stride, zero padding, dilation,
    groups; groups=in_channels is depthwise), plus a bias unless bias=False."""

    base_name = "conv2d"

    def conv(self, x: Value) -> Value:
        return convops.conv2d(x, self.weight, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvBase):
    """1-D convolution over (N, C, L) input with an (out, in/groups, k) kernel, plus a bias unless bias=False."""

    base_name = "conv1d"
    rank = 1

    def conv(self, x: Value) -> Value:
        return convops.conv1d(x, self.weight, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvBase):
    """Transposed 2-D convolution (the gradient of Conv2d in its input, as torch.nn.ConvTranspose2d): weight
    (in, out/groups, kH, kW); output_padding picks among the sizes a strided convolution maps to one size."""

    base_name = "conv_transpose2d"
    transposed = True

    def __init__(self, in_channels: int | None, out_channels: int, kernel_size: Any, *, output_padding: Any = 0,
                 **kw: Any) -> None:
        super().__init__(in_channels, out_channels, kernel_size, **kw)
        self.output_padding = output_padding

    def conv(self, x: Value) -> Value:
        return convops.conv_transpose2d(x, self.weight, self.stride, self.padding, self.output_padding, self.groups,
                                        self.dilation)
