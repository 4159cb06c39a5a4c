"""ONNX lowerings of the layer ops (convolution, pooling) and the reasons their backward ops stay unexported.

Imports graphnn.ir only (and the onnx package).
"""

from __future__ import annotations

from ...ir.graph import Node
from .emitter import Emitter, Lowering, table_decorator

NN_LOWERINGS: dict[str, Lowering] = {}
lowering = table_decorator(NN_LOWERINGS)

_BACKWARD = "a backward op: it appears only in training graphs, and an ONNX export is an inference graph"
NN_UNSUPPORTED: dict[str, str] = {
    "conv2d_input_grad": _BACKWARD,
    "conv2d_weight_grad": _BACKWARD,
    "max_pool2d_grad": _BACKWARD,
    "max_pool2d_select": _BACKWARD,
}


def _pads(padding: tuple) -> list[int]:
    ph, pw = padding
    return [ph, pw, ph, pw]  # ONNX: begins of every spatial axis, then ends


@lowering("conv2d", "Conv (NCHW, OIHW, no bias; group 1)", 11)
def _conv2d(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Conv", ins, outs, strides=list(n.attrs["stride"]), pads=_pads(n.attrs["padding"]))


@lowering("max_pool2d", "MaxPool (padding is -inf, floor mode)", 12)
def _max_pool2d(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("MaxPool", ins, outs, kernel_shape=list(n.attrs["kernel_size"]), strides=list(n.attrs["stride"]),
           pads=_pads(n.attrs["padding"]))
