"""Makes the small PyTorch exports under tests/data/torch_exports/ that CI without torch imports: each model
exported by the TorchScript exporter (`dynamo=False`, opset 17) and by the dynamo exporter (opset 18), both with a
dynamic batch, plus PyTorch's own outputs at two batch sizes (`<name>.npz`: x2, y2, x5, y5) as the reference.

Run: python -m tests.data.make_torch_exports   (needs torch and onnxscript; rerun after changing a model)
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_exports")
BATCHES = (2, 5)


class GeluMLP(nn.Module):
    """Linear -> exact GELU (Erf) -> Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(6, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(F.gelu(self.a(x)))


class LeNet(nn.Module):
    """Two conv + max-pool stages, flattened with `x.view(x.size(0), -1)`, then a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3)
        self.fc = nn.Linear(6 * 2 * 2, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(x.view(x.size(0), -1))


class TinyResNet(nn.Module):
    """Conv-BN-ReLU, one residual block (conv, BN, add, ReLU), flatten, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c1, self.b1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.b0(self.c0(x)))
        h = F.relu(h + self.b1(self.c1(h)))
        return self.fc(torch.flatten(h, 1))


class ChunkGate(nn.Module):
    """`chunk` into two halves (a Split), gated: p * sigmoid(q)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, q = self.a(x).chunk(2, dim=1)
        return p * torch.sigmoid(q)


class AvgLeNet(nn.Module):
    """LeNet with average pooling (one with count_include_pad padding, one ceil-mode) and ReLU6."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3)
        self.fc = nn.Linear(6 * 2 * 2, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(F.relu6(self.c1(x)), 3, stride=2, padding=1)
        x = F.avg_pool2d(F.relu(self.c2(x)), 3, stride=2, ceil_mode=True)  # 4x4 -> 2x2 (floor mode: 1x1)
        return self.fc(x.view(x.size(0), -1))


class GapResNet(nn.Module):
    """A residual block with a strided 1x1 projection, then global average pooling and a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c0, self.b0 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c1, self.b1 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16)
        self.proj = nn.Conv2d(8, 16, 1, stride=2)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.b0(self.c0(x)))
        h = F.relu(self.proj(h) + self.b1(self.c1(h)))
        return self.fc(torch.flatten(self.pool(h), 1))


class MobileBlock(nn.Module):
    """MobileNet-v3-style inverted residual: 1x1 expand, depthwise 3x3 (groups=C), hardswish, 1x1 project."""

    def __init__(self) -> None:
        super().__init__()
        self.expand, self.b0 = nn.Conv2d(4, 12, 1, bias=False), nn.BatchNorm2d(12)
        self.dw, self.b1 = nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False), nn.BatchNorm2d(12)
        self.project, self.b2 = nn.Conv2d(12, 4, 1, bias=False), nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.hardswish(self.b0(self.expand(x)))
        h = F.hardswish(self.b1(self.dw(h)))
        return x + self.b2(self.project(h)) * F.hardsigmoid(x)


class UNetDecoder(nn.Module):
    """A U-Net decoder step: transposed convolution up, concatenated skip, conv, then bilinear and nearest upsampling."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(2, 6, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
        self.fuse = nn.Conv2d(6, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(F.relu(self.down(x)))
        h = F.relu(self.fuse(torch.cat([h, x], dim=1)))
        h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        return F.interpolate(h, scale_factor=2, mode="nearest")


# name -> (model class, the per-example input shape)
MODELS: dict[str, tuple[type, tuple[int, ...]]] = {
    "gelu_mlp": (GeluMLP, (6,)), "lenet": (LeNet, (1, 12, 12)), "tiny_resnet": (TinyResNet, (2, 6, 6)),
    "chunk_gate": (ChunkGate, (6,)), "avg_lenet": (AvgLeNet, (1, 12, 12)), "gap_resnet": (GapResNet, (3, 8, 8)),
    "mobile_block": (MobileBlock, (4, 6, 6)), "unet_decoder": (UNetDecoder, (2, 6, 6)),
}
EXPORTERS = ("torchscript", "dynamo")


def build(name: str) -> nn.Module:
    """The model in eval mode with seeded weights (and non-trivial batch-norm statistics)."""
    torch.manual_seed(sum(map(ord, name)))
    m = MODELS[name][0]().eval()
    for b in m.modules():
        if isinstance(b, nn.BatchNorm2d):
            b.running_mean.uniform_(-1, 1)
            b.running_var.uniform_(0.5, 2)
    return m


def export(m: nn.Module, example: torch.Tensor, exporter: str) -> bytes:
    """The model as ONNX bytes with a dynamic batch dim on input `x` and output `y`."""
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(m, (example,), f, dynamo=False, opset_version=17, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        else:
            prog = torch.onnx.export(m, (example,), dynamo=True, opset_version=18, input_names=["x"],
                                     output_names=["y"], dynamic_shapes=({0: torch.export.Dim("batch")},),
                                     verbose=False)
            prog.save(f)  # type: ignore[union-attr]
    return f.getvalue()


def reference(m: nn.Module, name: str) -> dict[str, Any]:
    """Seeded inputs at each batch size and PyTorch's outputs for them."""
    rng = np.random.default_rng(sum(map(ord, name)))
    out = {}
    for b in BATCHES:
        x = rng.standard_normal((b, *MODELS[name][1])).astype(np.float32)
        with torch.no_grad():
            out[f"x{b}"], out[f"y{b}"] = x, m(torch.from_numpy(x)).numpy()
    return out


def main() -> None:
    os.makedirs(HERE, exist_ok=True)
    for name in MODELS:
        m = build(name)
        example = torch.zeros((3, *MODELS[name][1]))
        for exporter in EXPORTERS:
            with open(os.path.join(HERE, f"{name}_{exporter}.onnx"), "wb") as f:
                f.write(export(m, example, exporter))
        np.savez(os.path.join(HERE, f"{name}.npz"), **reference(m, name))
        print("wrote", name)


if __name__ == "__main__":
    main()
