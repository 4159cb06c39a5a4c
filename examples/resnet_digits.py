"""Handwritten digits with a small residual network: a conv stem, three basic residual blocks (conv-BN-ReLU-conv-BN
plus the skip, a strided 1x1 projection where the shape changes), global average pooling, dropout and a linear head.

Trains with a progress bar, reports test accuracy and wall time, exports the eval-mode network to ONNX (parity
against onnxruntime in the export report) and draws the training step as an HTML page.
    python examples/resnet_digits.py [--epochs 20] [--out out/resnet_digits] [--backend cupy]
The default budget (20 epochs, batch 32, width 16, all 1347 training images) reached 0.9889 test accuracy in
150 s on a loaded 2-core machine (load ~8); ONNX parity against onnxruntime: max abs diff < 1e-6.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphnn as gn
from graphnn import nn


class BasicBlock(nn.Module):
    """y = relu(bn(conv(relu(bn(conv(x))))) + skip(x)); the skip is a strided 1x1 conv + BN when shapes change."""

    base_name = "block"

    def __init__(self, cin: int, cout: int, stride: int = 1, **kw) -> None:
        super().__init__(**kw)
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                                  nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else None)

    def forward(self, x: gn.Value) -> gn.Value:
        return gn.relu(self.body(x) + (self.skip(x) if self.skip is not None else x))

    @property
    def params(self) -> list[gn.Value]:
        return self.body.params + (self.skip.params if self.skip is not None else [])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--width", type=int, default=16, help="channels of the first stage (the second has twice)")
    ap.add_argument("--validation-split", type=float, default=0.0, help="held out of training to watch (0: train on all)")
    ap.add_argument("--out", default="out/resnet_digits")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="where to train (cupy: a GPU)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8): NCHW
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)

    w = args.width
    with gn.Graph("resnet_digits") as g:
        x = gn.input("x", (None, 1, 8, 8))
        labels = gn.input("y", (None,), "int64")
        model = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),  # stem: w x 8 x 8
            BasicBlock(w, w), BasicBlock(w, 2 * w, stride=2), BasicBlock(2 * w, 2 * w),  # -> 2w x 4 x 4
            nn.GlobalAvgPool2d(), nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * w, 10),  # -> 2w -> 10
        )
        logits = model(x)
        probs = gn.softmax(logits)
        loss = gn.cross_entropy(probs, labels)
        accuracy = gn.train.accuracy(logits, labels)

    history = gn.train.fit(loss, {"x": X_train, "y": y_train}, gn.optim.Adam(3e-3), metrics={"accuracy": accuracy},
                           schedule=gn.optim.CosineDecay(3e-3, args.epochs), epochs=args.epochs,
                           batch_size=args.batch_size, validation_split=args.validation_split, progress=True, backend=args.backend)
    test = history.trainer.evaluate({"x": X_test, "y": y_test})
    seconds = time.perf_counter() - t0
    print(f"test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f}, {seconds:.1f} s total")

    os.makedirs(args.out, exist_ok=True)
    history.plot(os.path.join(args.out, "curves.png"))
    gn.save_params(g, os.path.join(args.out, "params.npz"))
    onnx_path = os.path.join(args.out, "resnet_digits.onnx")
    report = gn.onnx.export(g, onnx_path, outputs={"probs": probs})  # eval mode: running statistics
    print(f"\nONNX export:\n{report}")  # includes the parity run against onnxruntime
    html_path = os.path.join(args.out, "resnet_digits.html")
    gn.viz.save_html(history.trainer.step_fn, html_path, dims={"batch": args.batch_size})
    print(f"wrote {html_path} (open it in a browser: the training step, forward and backward)")
    return {"test_accuracy": test["accuracy"], "seconds": seconds, "history": history, "export": report}


if __name__ == "__main__":
    main()
