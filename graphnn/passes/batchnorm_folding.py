"""Inference only: batch_norm_infer(conv2d(x, w)) -> conv2d(x, w * s) + (beta - mean * s), s = gamma /
sqrt(var + eps). The normalization's pass over the activations becomes arithmetic on the (small) weights; the
parameters stay parameters, so a trained graph keeps sharing its storage. A rule table on the rewrite engine.

Imports only graphnn.ir.
"""

from __future__ import annotations

from ..ir.graph import Graph, Value
from ..ir.ops import conv, shape_ops
from ..ir.ops import elementwise as ew
from .pattern import Match, Rule, rewrite, rule


@rule("batch_norm_infer(conv2d(x, w))", "batch_norm_infer", "conv2d", None, None, None, None, fused=True)
def _fold_into_conv(m: Match) -> Value | None:
    c = m.args[0]
    y = c.outputs[0] if c is not None else None
    if y is None or m.node.attrs["axis"] != 1 or not m.private(y):
        return None  # another reader (or an output) needs the unnormalized convolution
    x, w = c.inputs
    _, gamma, beta, mean, var = m.inputs
    s = gamma / ew.sqrt(var + m.node.attrs["eps"])
    w2 = w * shape_ops.reshape(s, (-1, 1, 1, 1))
    b = shape_ops.reshape(beta - mean * s, (1, -1, 1, 1))
    geo = {k: c.attrs[k] for k in ("stride", "padding", "dilation", "groups")}
    return conv.conv2d(x, w2, **geo) + b


RULES: list[Rule] = [_fold_into_conv]


def fold_batchnorm(g: Graph) -> Graph:
    """Fold each eval-mode batch norm into the convolution feeding it (when nothing else reads that
    convolution). O(nodes + outputs) plus O(1) per firing."""
    return rewrite(g, RULES, "fold_batchnorm")
