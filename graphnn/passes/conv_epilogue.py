"""Inference only: add(conv2d(x, w), b) [-> relu] [-> 2x2 max pool] -> conv2d_bias_act(x, w, b, activation, pool),
when b is one value per output channel. The bias add, the ReLU and the pooling then run in the convolution's
kernel on output still in cache (in the Winograd forms' output transform: RESULTS.md), instead of as separate
passes over the whole activation. A rule table on the rewrite engine; listed by `fn.report()` like every
rewrite.

Imports only graphnn.ir.
"""

from __future__ import annotations

from ..ir.graph import Graph, Value
from ..ir.ops import conv, shape_ops
from .pattern import Match, Rule, rewrite, rule


def _per_channel(b: Value, y: Value) -> bool:
    """b broadcasts against the NCHW y as one value per channel without changing y's type: (O, 1, 1) with
    optional leading ones, O static."""
    o = y.shape[1]
    if b.dtype != y.dtype or b.ndim < 3 or b.ndim > 4 or not isinstance(o, int):
        return False
    return tuple(b.shape[-3:]) == (o, 1, 1) and all(d == 1 for d in b.shape[:-3])


def _bias_into_conv(m: Match, side: int) -> Value | None:
    c = m.args[side]
    b = m.inputs[1 - side]
    if c is None or c.op != "conv2d" or not m.private(c.outputs[0]) or not _per_channel(b, c.outputs[0]):
        return None
    x, w = c.inputs
    geo = {k: c.attrs[k] for k in ("stride", "padding", "dilation", "groups")}
    return conv.conv2d_bias_act(x, w, shape_ops.reshape(b, (c.outputs[0].shape[1],)), **geo)


@rule("add(conv2d(x, w), b)", "add", "conv2d", None, fused=True)
def _conv_plus_bias(m: Match) -> Value | None:
    return _bias_into_conv(m, 0)


@rule("add(b, conv2d(x, w))", "add", None, "conv2d", fused=True)
def _bias_plus_conv(m: Match) -> Value | None:
    return _bias_into_conv(m, 1)


@rule("relu(conv2d_bias_act(x, w, b))", "relu", "conv2d_bias_act", fused=True)
def _relu_into_conv(m: Match) -> Value | None:
    c = m.args[0]
    if c.attrs["activation"] != "none" or not m.private(c.outputs[0]):
        return None
    return conv.conv2d_bias_act(*c.inputs, **{**c.attrs, "activation": "relu"})


POOL_2X2 = {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": False}


@rule("max_pool2d(conv2d_bias_act(x, w, b))", "max_pool2d", "conv2d_bias_act", fused=True)
def _pool_into_conv(m: Match) -> Value | None:
    c = m.args[0]
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in m.node.attrs.items()}
    y = c.outputs[0]
    if attrs != POOL_2X2 or c.attrs["pool"] != 1 or not m.private(y):
        return None
    if not all(isinstance(d, int) and d >= 2 for d in y.shape[2:]):
        return None  # the pooled form needs a static map
    return conv.conv2d_bias_act(*c.inputs, **{**c.attrs, "pool": 2})


RULES: list[Rule] = [_conv_plus_bias, _bias_plus_conv, _relu_into_conv, _pool_into_conv]


def fuse_conv_epilogue(g: Graph) -> Graph:
    """Move each per-channel bias add after a convolution, a ReLU after that and a 2x2 max pool after those into
    the convolution's epilogue (conv2d_bias_act). O(nodes + outputs) plus O(1) per firing."""
    return rewrite(g, RULES, "conv_epilogue")
