"""Pooling and resampling layers: MaxPool1d/2d, AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool2d, Upsample."""

from __future__ import annotations

from typing import Any

from ...ir.graph import Value
from ...ir.ops import pool as poolops
from ...ir.ops import resample
from .module import Module


class MaxPool2d(Module):
    """Max pooling over NCHW windows; stride defaults to the kernel size (PyTorch's arguments)."""

    base_name = "max_pool2d"

    def __init__(self, kernel_size: int | tuple[int, int], stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 ceil_mode: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, x: Value) -> Value:
        return poolops.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


class MaxPool1d(Module):
    """Max pooling over (N, C, L) windows; stride defaults to the kernel size."""

    base_name = "max_pool1d"

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
                 ceil_mode: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.args = (kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x: Value) -> Value:
        return poolops.max_pool1d(x, *self.args)


class AvgPool2d(Module):
    """Average pooling over NCHW windows (count_include_pad and ceil_mode as PyTorch's)."""

    base_name = "avg_pool2d"

    def __init__(self, kernel_size: int | tuple[int, int], stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.args = (kernel_size, stride, padding, ceil_mode, count_include_pad)

    def forward(self, x: Value) -> Value:
        return poolops.avg_pool2d(x, *self.args)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed (H, W) output, PyTorch's bins."""

    base_name = "adaptive_avg_pool2d"

    def __init__(self, output_size: int | tuple[int, int], **kw: Any) -> None:
        super().__init__(**kw)
        self.output_size = output_size

    def forward(self, x: Value) -> Value:
        return poolops.adaptive_avg_pool2d(x, self.output_size)


class GlobalAvgPool2d(Module):
    """The mean over H and W, kept as (N, C, 1, 1)."""

    base_name = "global_avg_pool2d"

    def forward(self, x: Value) -> Value:
        return poolops.global_avg_pool2d(x)


class Upsample(Module):
    """PyTorch's nn.Upsample: 'nearest', 'linear' or 'bilinear' to `size` or by `scale_factor`."""

    base_name = "upsample"

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.args = (size, scale_factor, mode, align_corners)

    def forward(self, x: Value) -> Value:
        return resample.upsample(x, *self.args)
