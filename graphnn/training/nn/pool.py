"""Pooling layers."""

from __future__ import annotations

from typing import Any

from ...ir.graph import Value
from ...ir.ops import pool as poolops
from .module import Module


class MaxPool2d(Module):
    """Max pooling over NCHW windows; stride defaults to the kernel size."""

    base_name = "max_pool2d"

    def __init__(self, kernel_size: int | tuple[int, int], stride: Any = None, padding: Any = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Value) -> Value:
        return poolops.max_pool2d(x, self.kernel_size, self.stride, self.padding)
