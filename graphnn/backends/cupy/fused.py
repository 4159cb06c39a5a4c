"""CuPy overrides for graphnn/ir/ops/fused.py: softmax_cross_entropy (int labels, 2-d, mean) as row max, one
sum-of-exp reduction kernel, one log-sum-exp-minus-picked kernel and the mean; sigmoid_binary_cross_entropy as
one kernel, then the reduction. Imports graphnn.ir, the backend records and the NumPy family helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..numpy.loss import int_labels_2d_mean, reduce_loss
from ..numpy.support import label_check, shape_of
from ..table import Table
from .cuda_source import KernelSource, compiled, sum_exp

KERNELS: Table[Any] = Table("cupy kernel (fused)")
OUT_KERNELS: Table[Any] = Table("cupy out= kernel (fused)")


@OUT_KERNELS.register("softmax_cross_entropy")
def _sce_out(xp: Any, node: Node, env: dict) -> OutKernel | None:
    if not int_labels_2d_mean(node):
        return None  # the general case: the NumPy table's plain kernel, written against xp
    x_t, y_t = node.inputs
    n, c = shape_of(x_t.type.shape, env)
    dt, yt = node.outputs[0].dtype, y_t.dtype
    m = xp.empty((n, 1), dt)
    s = xp.empty((n, 1), dt)
    per = xp.empty((n,), dt)
    se = sum_exp(xp, dt)
    # loss_i = log(sum_j exp(x_ij - m_i)) + m_i - x_i,y_i: x is read raw, at the row's label.
    lse = compiled(xp, KernelSource(f"{dt} s, {dt} m, {yt} y, raw {dt} x, int64 c", f"{dt} l",
                                    "l = log(s) + m - x[i * c + y];", "graphnn_lse_minus_picked"))
    check = label_check(xp, c, f"softmax_cross_entropy {node.name}")

    def sce(x: Any, y: Any, out: Any) -> None:
        check(y)
        xp.max(x, axis=1, keepdims=True, out=m)
        se(x, m, axis=1, keepdims=True, out=s)
        lse(s.reshape(n), m.reshape(n), y, x.reshape(-1), c, per)  # raw x indexed flat
        xp.mean(per, dtype=dt, out=out)

    return OutKernel(lambda ins, out: [(sce, (ins[0], ins[1], out), {})],
                     scratch_bytes=m.nbytes + s.nbytes + per.nbytes)


@KERNELS.register("sigmoid_binary_cross_entropy")
def _sbce(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype
    # softplus(z) - z t, stably: max(z, 0) - z t + log1p(exp(-|z|)), in one kernel.
    k = compiled(xp, KernelSource(f"{dt} z, {dt} t", f"{dt} l",
                                  f"l = ((z > 0) ? z : ({'0.0f' if dt == 'float32' else '0.0'})) - z * t"
                                  " + log1p(exp(-fabs(z)));", "graphnn_sigmoid_bce"))
    return lambda z, t: reduce_loss(xp, k(z, t), red, dt)
