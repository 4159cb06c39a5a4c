"""ONNX export and import of the pool family: max_pool2d <-> MaxPool, avg_pool2d <-> AveragePool,
adaptive_avg_pool2d -> GlobalAveragePool / AveragePool (even bins) or two MatMuls with its bin matrices;
GlobalAveragePool, GlobalMaxPool, 1-D and 3-D MaxPool/AveragePool and LRN import through the builders. The backward
ops are not exported. Imports graphnn.ir and the onnx room's emitter and import context.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.errors import GraphError
from ...ir.graph import Node
from ...ir.ops import pool as P
from ...ir.ops.reduction import max as reduce_max
from ...ir.ops.volume import avg_pool3d, max_pool3d
from .emitter import Emitter, lowering_table
from .import_context import Importer, importer_table

LOWERINGS = lowering_table("pool")
IMPORTERS = importer_table("pool")
_BACKWARD = "a backward op: it appears only in training graphs, and an ONNX export is an inference graph"
UNSUPPORTED: dict[str, str] = {
    "max_pool2d_grad": _BACKWARD,
    "max_pool2d_select": _BACKWARD,
    "avg_pool2d_grad": _BACKWARD,
    "adaptive_avg_pool2d_grad": _BACKWARD,
}
NOT_IMPORTED: dict[str, str] = {}


def _common(n: Node) -> dict:
    a = n.attrs
    return {"kernel_shape": list(a["kernel_size"]), "strides": list(a["stride"]), "pads": list(a["padding"]),
            "ceil_mode": int(a["ceil_mode"])}


@LOWERINGS.register("max_pool2d", onnx_ops="MaxPool (padding is -inf; dilations, ceil_mode)")
def _max_pool2d(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("MaxPool", ins, outs, dilations=list(n.attrs["dilation"]), **_common(n))


@LOWERINGS.register("avg_pool2d", onnx_ops="AveragePool (count_include_pad, ceil_mode; dilations from opset 19)")
def _avg_pool2d(e: Emitter, n: Node, ins: list, outs: list) -> None:
    d = list(n.attrs["dilation"])
    if d != [1, 1] and e.opset < 19:
        raise GraphError(f"avg_pool2d {n.name}: dilation {d} needs opset >= 19 (AveragePool-19), got {e.opset}")
    extra = {"dilations": d} if d != [1, 1] else {}
    e.emit("AveragePool", ins, outs, count_include_pad=int(n.attrs["count_include_pad"]), **extra, **_common(n))


@LOWERINGS.register("adaptive_avg_pool2d", onnx_ops="GlobalAveragePool, AveragePool or MatMul (uneven bins)")
def _adaptive(e: Emitter, n: Node, ins: list, outs: list) -> None:
    (h, w), (ho, wo) = n.inputs[0].type.shape[2:], n.attrs["output_size"]
    if (ho, wo) == (1, 1):
        e.emit("GlobalAveragePool", ins, outs)
    elif h % ho == 0 and w % wo == 0:
        k = [h // ho, w // wo]
        e.emit("AveragePool", ins, outs, kernel_shape=k, strides=k)
    else:  # uneven bins overlap: y = A_h @ x @ A_w^T, broadcast over (N, C)
        dt = n.outputs[0].dtype
        t = e.emit("MatMul", [e.const(P.bin_matrix(h, ho), dt, "bins_h"), ins[0]])[0]
        e.emit("MatMul", [t, e.const(np.ascontiguousarray(P.bin_matrix(w, wo).T), dt, "bins_w")], outs)


# ---- import ------------------------------------------------------------------------------------------------
def _geometry(imp: Importer, n: Any, attrs: dict, rank: int) -> dict:
    """kernel, strides, pads (begins then ends), dilations of a pooling node over `rank` spatial axes."""
    k = [int(i) for i in attrs["kernel_shape"]]
    if len(k) != rank:
        raise GraphError(f"kernel_shape {k} does not match the input's {rank} spatial axes")
    s = [int(i) for i in attrs.get("strides", [1] * rank)]
    d = [int(i) for i in attrs.get("dilations", [1] * rank)]
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", ""):
        p = [int(i) for i in attrs.get("pads", [0] * 2 * rank)]
    elif auto == "VALID":
        p = [0] * 2 * rank
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        x = imp.value(n.input[0])
        begins, ends = [], []
        for ax in range(rank):
            size = x.shape[2 + ax]
            if not isinstance(size, int):
                raise GraphError(f"auto_pad {auto} needs a static spatial size, got {x.type}")
            total = max((-(-size // s[ax]) - 1) * s[ax] + d[ax] * (k[ax] - 1) + 1 - size, 0)
            small = total // 2
            begins.append(small if auto == "SAME_UPPER" else total - small)
            ends.append(total - begins[-1])
        p = begins + ends
    else:
        raise GraphError(f"auto_pad {auto!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    if len(p) != 2 * rank or len(s) != rank or len(d) != rank:
        raise GraphError(f"pads {p}, strides {s}, dilations {d} do not match {rank} spatial axes")
    return {"k": k, "s": s, "p": p, "d": d, "ceil": bool(attrs.get("ceil_mode", 0))}


def _rank(imp: Importer, n: Any) -> int:
    r = imp.value(n.input[0]).ndim - 2
    if r not in (1, 2, 3):
        raise GraphError(f"{n.op_type} {n.name}: only 1-D, 2-D and 3-D pooling are supported (input rank {r + 2})")
    return r


@IMPORTERS.register("MaxPool")
def _import_max_pool(imp: Importer, n: Any, attrs: dict) -> list:
    if len(n.output) > 1 and n.output[1]:
        raise GraphError(f"MaxPool {n.name}: the Indices output is not supported")
    if attrs.get("storage_order", 0):
        raise GraphError(f"MaxPool {n.name}: storage_order 1 (column-major indices) is not supported")
    r = _rank(imp, n)
    x, g = imp.value(n.input[0]), _geometry(imp, n, attrs, r)
    if r == 1:
        y = P.max_pool1d(x, g["k"][0], g["s"][0], tuple(g["p"]), g["d"][0], g["ceil"])
    elif r == 3:
        y = max_pool3d(x, tuple(g["k"]), tuple(g["s"]), tuple(g["p"]), tuple(g["d"]), g["ceil"])
    else:
        y = P.max_pool2d(x, tuple(g["k"]), tuple(g["s"]), tuple(g["p"]), tuple(g["d"]), g["ceil"])
    return [imp.op("identity", [y], {}, n.output[0])]


@IMPORTERS.register("AveragePool")
def _import_avg_pool(imp: Importer, n: Any, attrs: dict) -> list:
    r = _rank(imp, n)
    x, g = imp.value(n.input[0]), _geometry(imp, n, attrs, r)
    inc = bool(attrs.get("count_include_pad", 0))
    if r == 1:
        y = P.avg_pool1d(x, g["k"][0], g["s"][0], tuple(g["p"]), g["ceil"], inc, g["d"][0])
    elif r == 3:
        y = avg_pool3d(x, tuple(g["k"]), tuple(g["s"]), tuple(g["p"]), g["ceil"], inc, tuple(g["d"]))
    else:
        y = P.avg_pool2d(x, tuple(g["k"]), tuple(g["s"]), tuple(g["p"]), g["ceil"], inc, tuple(g["d"]))
    return [imp.op("identity", [y], {}, n.output[0])]


@IMPORTERS.register("GlobalAveragePool")
def _import_gap(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axes = tuple(range(2, x.ndim))
    return [imp.op("mean", [x], {"axes": axes, "keepdims": True}, n.output[0])]


@IMPORTERS.register("GlobalMaxPool")
def _import_gmp(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    return [imp.op("identity", [reduce_max(x, tuple(range(2, x.ndim)), keepdims=True)], {}, n.output[0])]


@IMPORTERS.register("LRN")
def _import_lrn(imp: Importer, n: Any, attrs: dict) -> list:
    y = P.lrn(imp.value(n.input[0]), int(attrs["size"]), float(attrs.get("alpha", 1e-4)),
              float(attrs.get("beta", 0.75)), float(attrs.get("bias", 1.0)))
    return [imp.op("identity", [y], {}, n.output[0])]
