"""Real-sized training steps for the viewer's scale tests, built with gn.nn layers: a residual CNN (basic blocks)
and a ResNet-50-shaped network (bottleneck blocks 3-4-6-3, stem conv 7x7 + max pool), each with Adam."""

from __future__ import annotations

import graphnn as gn


class Basic(gn.nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the skip, ReLU."""

    base_name = "block"

    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1, self.b1 = gn.nn.Conv2d(c, c, 3, padding=1), gn.nn.BatchNorm2d(c)
        self.c2, self.b2 = gn.nn.Conv2d(c, c, 3, padding=1), gn.nn.BatchNorm2d(c)

    def forward(self, h: gn.Value) -> gn.Value:
        return gn.relu(h + self.b2(self.c2(gn.relu(self.b1(self.c1(h))))))


class Bottleneck(gn.nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand, each with BN; a projected skip when the shape changes."""

    base_name = "bottleneck"

    def __init__(self, cin: int, mid: int, cout: int, stride: int) -> None:
        super().__init__()
        self.convs = [gn.nn.Conv2d(cin, mid, 1), gn.nn.Conv2d(mid, mid, 3, stride=stride, padding=1),
                      gn.nn.Conv2d(mid, cout, 1)]
        self.bns = [gn.nn.BatchNorm2d(mid), gn.nn.BatchNorm2d(mid), gn.nn.BatchNorm2d(cout)]
        self.proj = (gn.nn.Conv2d(cin, cout, 1, stride=stride), gn.nn.BatchNorm2d(cout)) \
            if (cin != cout or stride != 1) else None

    def forward(self, x: gn.Value) -> gn.Value:
        h = x
        for i, (c, b) in enumerate(zip(self.convs, self.bns)):
            h = b(c(h))
            h = gn.relu(h) if i < 2 else h
        skip = self.proj[1](self.proj[0](x)) if self.proj else x
        return gn.relu(h + skip)


class Stage(gn.nn.Module):
    """`n` bottleneck blocks; the first one strides and projects."""

    base_name = "stage"

    def __init__(self, cin: int, mid: int, n: int, stride: int) -> None:
        super().__init__()
        self.blocks = [Bottleneck(cin if i == 0 else 4 * mid, mid, 4 * mid, stride if i == 0 else 1) for i in range(n)]

    def forward(self, x: gn.Value) -> gn.Value:
        for b in self.blocks:
            x = b(x)
        return x


def _head_and_adam(g: gn.Graph, h: gn.Value, y: gn.Value, c: int) -> gn.Function:
    logits = gn.nn.Linear(c, 10)(gn.mean(h, axis=(2, 3)))
    loss = gn.cross_entropy(gn.softmax(logits), y)
    return gn.compile(g, outputs={"loss": loss}, updates=gn.optim.Adam(1e-3).updates(loss))


def residual_cnn(blocks: int = 8, c: int = 16) -> gn.Function:
    """The Adam training step of a stem conv, `blocks` basic residual blocks, mean pool and a linear head."""
    with gn.Graph(f"residual_cnn{blocks}") as g:
        x, y = gn.input("x", (None, c, 8, 8), "float32"), gn.input("y", (None,), "int64")
        h = gn.relu(gn.nn.Conv2d(c, c, 3, padding=1)(x))
        for _ in range(blocks):
            h = Basic(c)(h)
        return _head_and_adam(g, h, y, c)


def resnet50(width: int = 4) -> gn.Function:
    """The Adam training step of a ResNet-50-shaped net (53 convolutions) with narrow channels."""
    with gn.Graph("resnet50") as g:
        x, y = gn.input("x", (None, 3, 32, 32), "float32"), gn.input("y", (None,), "int64")
        h = gn.relu(gn.nn.BatchNorm2d(width)(gn.nn.Conv2d(3, width, 7, stride=2, padding=3, name="stem")(x)))
        h = gn.nn.MaxPool2d(3, 2, 1)(h)
        cin = width
        for i, n in enumerate((3, 4, 6, 3)):
            mid = width * 2 ** i
            h = Stage(cin, mid, n, 1 if i == 0 else 2)(h)
            cin = 4 * mid
        return _head_and_adam(g, h, y, cin)
