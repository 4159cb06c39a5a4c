"""NumPy kernels of graphnn/ir/ops/conv.py: conv2d and its backward ops (pooling is in pool.py).

Convolutions are GEMMs over patch columns (conv_gemm.py); col2im loops over the kH*kW kernel offsets only
(each step a whole-tensor strided operation), never over batch or pixels.
Written against `xp` so CuPy reuses them (cupy has lib.stride_tricks.as_strided). Imports graphnn.ir.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.graph import Node
from .. import compiled
from ..compiled.colconv import ColConv
from ..compiled.team import available as team_available
from ..compiled.team import helper_rows
from ..compiled.winograd import MIN_TILES, Form, Winograd, applies, form_for, samples_per_block
from ..destination import OutKernel
from ..table import Table
from .conv_gemm import BlasSession, Columns, Geo, block_of, col2im, flip_kernel, geo_of, run_blocks, transposed_as_conv
from .support import Factory, plain

KERNELS: Table[Factory] = Table("numpy kernel (conv)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (conv)")


def pad_hw(xp: Any, x: Any, ph: int, pw: int, value: float = 0.0) -> Any:
    """Pad the two trailing (spatial) axes; no copy when there is nothing to pad."""
    if ph == 0 and pw == 0:
        return x
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant", constant_values=value)


def offsets(kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> list[tuple[int, int, slice, slice]]:
    """For each kernel offset (a, b), row-major: the rows and columns of the padded input it touches."""
    return [(a, b, slice(a, a + sh * (ho - 1) + 1, sh), slice(b, b + sw * (wo - 1) + 1, sw))
            for a in range(kh) for b in range(kw)]


def _geom(node: Node, kh: int, kw: int) -> tuple[int, int, int, int, int, int]:
    (sh, sw), (ph, pw) = node.attrs["stride"], node.attrs["padding"]
    return kh, kw, sh, sw, ph, pw


def conv_hw(node: Node, geo: Geo) -> tuple[Any, Any]:
    """The convolution's output height and width of a conv2d or conv2d_bias_act node (before any pooling)."""
    if node.op == "conv2d" or node.attrs.get("pool", 1) == 1:
        return tuple(node.outputs[0].type.shape[2:])
    h, w = node.inputs[0].type.shape[2:]  # pooled forms are static (their type rule)
    return ((h + geo.pt + geo.pb - geo.dh * (geo.kh - 1) - 1) // geo.sh + 1,
            (w + geo.pl + geo.pr - geo.dw * (geo.kw - 1) - 1) // geo.sw + 1)


# Each conv kernel is a batch of per-sample GEMMs (one per sample and group) over patch columns made a cache-sized
# block of samples at a time (conv_gemm.py); a 1x1 stride-1 convolution multiplies the NCHW arrays directly.
# The kernels write into planned buffers and share their plan's BlasSession (one BLAS pin for all of them).
def conv_forward(xp: Any, x: Any, w: Any, geo: Geo, ho: int, wo: int, y: Any = None,
                 threads: int | None = None) -> Any:
    """y = conv2d(x, w) for NCHW x and (O, C/g, kH, kW) w: W @ cols[n] per sample and group (into `y` if given)."""
    n, o = x.shape[0], w.shape[0]
    og = o // geo.g
    wg = w.reshape(geo.g, og, -1)
    y = xp.empty((n, o, ho, wo), dtype=x.dtype) if y is None else y
    src = Columns(xp, x, geo, ho, wo)

    joint = ho * src.lw < JOINT_FORWARD

    def block(s: int, e: int, slot: int) -> None:
        cols = src.cols(s, e, slot)
        if joint:  # small maps: one (O, K) @ (K, nb*L) GEMM per block, then back to (nb, O, Ho, Wo)
            nb, ln = e - s, cols.shape[-1]
            yj = src.buffer(slot, "yj", (o * src.bs * ln,), x.dtype)[:o * nb * ln].reshape(geo.g, og, nb * ln)
            xp.matmul(wg, cols.transpose(1, 2, 0, 3).reshape(geo.g, -1, nb * ln), out=yj)
            y[s:e] = yj.reshape(o, nb, ho, src.lw).transpose(1, 0, 2, 3)[..., :wo]
            return
        if src.lw == wo:
            xp.matmul(wg, cols, out=y[s:e].reshape(e - s, geo.g, og, -1))
            return
        yb = src.buffer(slot, "y", (src.bs, geo.g, og, ho * src.lw), x.dtype)[:e - s]
        xp.matmul(wg, cols, out=yb)
        y[s:e] = yb.reshape(e - s, o, ho, src.lw)[..., :wo]  # drop the junk columns

    src.run(block, 2.0 * n * o * ho * wo * src.k / geo.g, threads)
    return y


JOINT_FORWARD = 64  # output positions per sample (Ho * row width) below which a block's samples share one GEMM:
# per-sample (512, 4608) @ (4608, 24) re-read the 9 MB weight per sample at 57-61 GFLOP/s, one GEMM over 4-8
# samples ran at 83-90; at 80 positions the two were even (RESULTS.md)


def winograd_of(xp: Any, geo: Geo, c: int, k: int, dtype: Any) -> Winograd | None:
    """The compiled Winograd path (backends/compiled/winograd.py) for this geometry, or None."""
    return Winograd.of(xp, *_parts(geo), c, k, dtype)


def colconv_of(xp: Any, geo: Geo, dtype: Any) -> ColConv | None:
    """The compiled column path (backends/compiled/colconv.py) for this geometry, or None."""
    return ColConv.of(xp, *_parts(geo), dtype)


def _parts(geo: Geo) -> tuple:
    """(kernel, stride, dilation, groups, pads): the geometry as compiled/winograd.py takes it."""
    return (geo.kh, geo.kw), (geo.sh, geo.sw), (geo.dh, geo.dw), geo.g, (geo.pt, geo.pl, geo.pb, geo.pr)


def blocks_on(xp: Any) -> Any:
    """run_blocks bound to xp: the Winograd path's block runner (worker threads, BLAS pinned per block)."""
    return lambda n, bs, fn, flops, threads: run_blocks(xp, n, bs, fn, flops, threads)


def in_session(xp: Any, work: Any) -> OutKernel:
    """The destination-passing kernel of `work(threads, *ins, out)`: inside the plan's BlasSession when planned,
    pinning around itself when called plainly (threads None)."""

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        sess = BlasSession.of(xp, ctx)
        fn = sess.call(work) if sess is not None else (lambda *a: work(None, *a))
        return [(fn, (*ins, out), {})]

    return OutKernel(calls, takes_context=True)


@OUT_KERNELS.register("conv2d")
def _conv2d_out(xp: Any, node: Node, env: dict) -> OutKernel:
    geo = geo_of(node, *node.inputs[1].type.shape[2:])
    ho, wo = conv_hw(node, geo)
    wino = winograd_of(xp, geo, node.inputs[0].type.shape[1], node.outputs[0].type.shape[1], node.inputs[0].type.dtype)
    col, blocks = colconv_of(xp, geo, node.inputs[0].type.dtype), blocks_on(xp)

    def work(threads: int | None, x: Any, w: Any, out: Any) -> None:
        if wino is not None and form_for(*x.shape[:2], ho, wo):
            wino(x, w, out, blocks, threads)
        elif col is not None and col.fits(*x.shape[:2], w.shape[0], ho, wo):
            col(x, w, out, threads)
        else:
            conv_forward(xp, x, w, geo, ho, wo, out, threads)

    return in_session(xp, work)


@OUT_KERNELS.register("conv2d_bias_act")
def _conv2d_bias_act_out(xp: Any, node: Node, env: dict) -> OutKernel:
    """pool(act(conv2d(x, w) + b)): on the Winograd path inside the pass that writes y; on the GEMM path one
    compiled pass after it (two NumPy passes without numba), then the pool from a scratch copy of the map."""
    geo = geo_of(node, *node.inputs[1].type.shape[2:])
    ho, wo = conv_hw(node, geo)
    relu, pool = node.attrs["activation"] == "relu", node.attrs["pool"] == 2
    wino = winograd_of(xp, geo, node.inputs[0].type.shape[1], node.outputs[0].type.shape[1], node.inputs[0].type.dtype)
    col, blocks = colconv_of(xp, geo, node.inputs[0].type.dtype), blocks_on(xp)
    epi = compiled.kernels("winograd") if compiled.host_float(xp, node.inputs[0].type.dtype) else None

    def work(threads: int | None, x: Any, w: Any, b: Any, out: Any) -> None:
        if wino is not None and form_for(*x.shape[:2], ho, wo):
            wino(x, w, out, blocks, threads, bias=b, relu=relu, pool=pool)
            return
        if col is not None and col.fits(*x.shape[:2], w.shape[0], ho, wo):
            col(x, w, out, threads, bias=b, relu=relu, pool=pool)
            return
        y = xp.empty((x.shape[0], w.shape[0], ho, wo), dtype=out.dtype) if pool else out
        conv_forward(xp, x, w, geo, ho, wo, y, threads)
        if epi is not None and y.flags.c_contiguous:
            epi.bias_act(y.reshape(*y.shape[:2], -1), xp.ascontiguousarray(b), relu, y.dtype.type(0))
        else:
            xp.add(y, b.reshape(-1, 1, 1), out=y)
            if relu:
                xp.maximum(y, 0, out=y)
        if pool:  # 2x2 windows, stride 2, floor mode: a last odd row or column is dropped
            hp, wp = out.shape[2:]
            xp.maximum(y[:, :, 0:2 * hp:2, 0:2 * wp:2], y[:, :, 0:2 * hp:2, 1:2 * wp:2], out=out)
            xp.maximum(out, y[:, :, 1:2 * hp:2, 0:2 * wp:2], out=out)
            xp.maximum(out, y[:, :, 1:2 * hp:2, 1:2 * wp:2], out=out)

    return in_session(xp, work)


@OUT_KERNELS.register("conv2d_input_grad")
def _conv2d_input_grad_out(xp: Any, node: Node, env: dict) -> OutKernel:
    o, cg, kh, kw = node.inputs[1].type.shape
    geo = geo_of(node, kh, kw)
    h, w_ = node.attrs["input_size"]
    ho, wo = node.inputs[0].type.shape[2:]
    og = o // geo.g
    if (geo.sh, geo.sw) == (1, 1) and not geo.pointwise:
        # A forward convolution of gy with the flipped kernel: one GEMM with the long (O*kH*kW) contraction
        # instead of a short-contraction GEMM plus the overlapping col2im sums (half the time, RESULTS.md).
        tgeo = transposed_as_conv(geo, h, w_, ho, wo)
        wino = winograd_of(xp, tgeo, o, cg * geo.g, node.inputs[0].type.dtype)
        blocks = blocks_on(xp)

        def flipped(threads: int | None, gy: Any, w: Any, out: Any) -> None:
            if wino is not None and form_for(*gy.shape[:2], h, w_):
                wino(gy, flip_kernel(xp, w, geo.g), out, blocks, threads)
            else:
                conv_forward(xp, gy, flip_kernel(xp, w, geo.g), tgeo, h, w_, out, threads)

        return in_session(xp, flipped)

    def f(threads: int | None, gy: Any, w: Any, out: Any) -> None:
        n = gy.shape[0]
        wt = w.reshape(geo.g, og, -1).transpose(0, 2, 1)  # (g, C/g*kH*kW, O/g)
        k = cg * kh * kw
        bs = block_of(xp, n, k * geo.g, ho * wo, gy.dtype.itemsize)
        if geo.pointwise:
            def dot(s: int, e: int, slot: int) -> None:
                xp.matmul(wt, gy[s:e].reshape(e - s, geo.g, og, -1), out=out[s:e].reshape(e - s, geo.g, cg, -1))

            run_blocks(xp, n, bs, dot, 2.0 * n * o * ho * wo * k, threads)
            return
        padded = bool(geo.pt or geo.pl or geo.pb or geo.pr)
        acc = xp.zeros((n, cg * geo.g, *geo.padded(h, w_)), dtype=gy.dtype) if padded else out
        if not padded:
            acc[...] = 0
        bufs: dict[int, Any] = {}

        def block(s: int, e: int, slot: int) -> None:  # GEMM into this worker's columns, then col2im from cache
            if slot not in bufs:
                bufs[slot] = xp.empty((bs, geo.g, k, ho * wo), dtype=gy.dtype)
            cols = bufs[slot][:e - s]
            xp.matmul(wt, gy[s:e].reshape(e - s, geo.g, og, -1), out=cols)
            col2im(xp, cols, geo, acc[s:e], ho, wo)

        run_blocks(xp, n, bs, block, 2.0 * n * o * ho * wo * k, threads)
        if padded:
            out[...] = acc[:, :, geo.pt:geo.pt + h, geo.pl:geo.pl + w_]

    return in_session(xp, f)


@OUT_KERNELS.register("conv2d_weight_grad")
def _conv2d_weight_grad_out(xp: Any, node: Node, env: dict) -> OutKernel:
    o, _, kh, kw = node.outputs[0].type.shape
    geo = geo_of(node, kh, kw)
    ho, wo = node.inputs[1].type.shape[2:]

    og = o // geo.g

    def f(threads: int | None, x: Any, gy: Any, out: Any) -> None:
        src = Columns(xp, x, geo, ho, wo)
        parts: dict[int, Any] = {}
        joint = joint_weight_grad(og, ho * src.lw)

        def block(s: int, e: int, slot: int) -> None:  # per worker: sum over its samples of cols[n] @ gy[n].T
            g_blk, nb = gy[s:e], e - s
            if src.lw != wo:  # whole padded rows: gy gets zero columns where the columns hold junk
                gyw = src.buffer(slot, "gy", (src.bs, o, ho, src.lw), gy.dtype, zero=True)[:nb]
                gyw[..., :wo] = g_blk
                g_blk = gyw
            cols = src.cols(s, e, slot)
            if joint:  # (K, nb*L) @ (nb*L, O): the sum over samples inside one GEMM
                ln = cols.shape[-1]
                cj = cols.transpose(1, 2, 0, 3).reshape(geo.g, -1, nb * ln)
                part = xp.matmul(cj, g_blk.reshape(nb, geo.g, og, ln).transpose(1, 0, 3, 2).reshape(geo.g, -1, og))
            else:  # (K, L) @ (L, O) ran at 86 GFLOP/s where (O, L) @ (L, K) ran at 54 (RESULTS.md)
                part = xp.matmul(cols, g_blk.reshape(nb, geo.g, og, -1).transpose(0, 1, 3, 2)).sum(axis=0)
            parts[slot] = part if slot not in parts else xp.add(parts[slot], part, out=parts[slot])

        src.run(block, 2.0 * x.shape[0] * o * ho * wo * src.k / geo.g, threads)
        gwt = parts[0]
        for k in range(1, len(parts)):
            gwt += parts[k]
        out.reshape(geo.g, o // geo.g, -1)[...] = gwt.transpose(0, 2, 1)

    return in_session(xp, f)


KERNELS.register("conv2d")(plain(_conv2d_out))
KERNELS.register("conv2d_bias_act")(plain(_conv2d_bias_act_out))
KERNELS.register("conv2d_input_grad")(plain(_conv2d_input_grad_out))
KERNELS.register("conv2d_weight_grad")(plain(_conv2d_weight_grad_out))


def joint_weight_grad(og: int, length: int) -> bool:
    """Whether the weight gradient sums over a block's samples inside one (K, n*L) @ (n*L, O/g) GEMM instead of
    per-sample (K, L) @ (L, O/g) products summed after: when O/g > L/4 (deep layers on small maps) the per-sample
    results (K x O/g each) outweigh the columns' transposed copy; the 512-channel 4x4 layer of the ResNet-18
    step: 35 -> 85 GFLOP/s (RESULTS.md)."""
    return 4 * og > length


def algorithm(node: Node, env: dict | None = None, host: bool = True) -> str:
    """How the kernels above run a conv-family node, in words, with its layout (for fn.profile and the viewer);
    `env` binds the batch dimension, which decides whether the Winograd path runs (on the host only)."""
    kh, kw = node.attrs["kernel_size"] if node.op == "conv2d_weight_grad" else node.inputs[1].type.shape[2:]
    geo = geo_of(node, kh, kw)
    wino = _winograd(node, geo, env or {}) if host else None
    tail = ""
    if node.op == "conv2d_bias_act":
        tail = " + bias" + (" + ReLU" if node.attrs["activation"] == "relu" else "") + \
            (" + 2x2 max pool" if node.attrs["pool"] == 2 else "") + \
            (" in the output transform" if isinstance(wino, Form) else " after it")
    if isinstance(wino, Form):
        return f"Winograd F({wino.m}x{wino.m}, 3x3): compiled transforms + {wino.alpha ** 2} GEMMs per block of " \
               f"samples{tail}; NCHW, groups {geo.g}{_team_note(node, geo, env or {}, wino)}"
    if host and _colconv(node, geo, env or {}):
        return "compiled columns over padded rows + one CBLAS GEMM per sample and group" \
               f"{tail.replace(' after it', ' in its epilogue')}; NCHW, groups {geo.g}" \
               f"{_team_note(node, geo, env or {}, None)}"
    cols = "1x1: GEMM on x itself" if geo.pointwise else \
        "GEMM over padded-row columns" if (geo.sh, geo.sw) == (1, 1) else "im2col GEMM"
    if node.op != "conv2d_weight_grad" and _positions(node, geo) < JOINT_FORWARD and \
            (node.op in ("conv2d", "conv2d_bias_act") or (geo.sh, geo.sw) == (1, 1)):
        cols += ", one GEMM per block of samples"
    how = {"conv2d": cols, "conv2d_bias_act": cols,
           "conv2d_input_grad": cols.replace("GEMM", "GEMM with the flipped kernel", 1)
           if (geo.sh, geo.sw) == (1, 1) else "GEMM + col2im",
           "conv2d_weight_grad": cols + (", one (K, N*L) @ gy.T per block" if _joint(node, geo) else
                                         ", (K, L) @ gy.T")}[node.op]
    if wino == "maybe":
        how = f"Winograd F(4x4, 3x3) or F(2x2, 3x3) from {MIN_TILES} tiles per call, else {how}"
    return f"{how}{tail}; NCHW, per-sample GEMMs, groups {geo.g}"


def _winograd(node: Node, geo: Geo, env: dict) -> Form | str | None:
    """The Winograd form the node's kernel takes, "maybe" (the batch is not bound), or None (the GEMM path)."""
    if node.op in ("conv2d", "conv2d_bias_act"):
        (n, c), k, (ho, wo), g = node.inputs[0].type.shape[:2], node.outputs[0].type.shape[1], conv_hw(node, geo), geo
    elif node.op == "conv2d_input_grad" and (geo.sh, geo.sw) == (1, 1) and not geo.pointwise:
        (n, c), ho, wo = node.inputs[0].type.shape[:2], *node.attrs["input_size"]
        k = node.outputs[0].type.shape[1]
        g = transposed_as_conv(geo, ho, wo, *node.inputs[0].type.shape[2:])
    else:
        return None
    if not applies(*_parts(g), c, k, node.inputs[0].type.dtype):
        return None
    n = env.get(n) if isinstance(n, str) else n
    return "maybe" if n is None else form_for(n, c, ho, wo)


def _batch(node: Node, env: dict) -> int | None:
    n = node.inputs[0].type.shape[0]
    return env.get(n) if isinstance(n, str) else n


def _colconv(node: Node, geo: Geo, env: dict) -> bool:
    """Whether a conv2d / conv2d_bias_act node's kernel takes the compiled column path (batch bound, no Winograd)."""
    if node.op not in ("conv2d", "conv2d_bias_act") or (n := _batch(node, env)) is None:
        return False
    col = colconv_of(np, geo, node.inputs[0].type.dtype)
    return col is not None and col.fits(n, node.inputs[0].type.shape[1], node.outputs[0].type.shape[1],
                                        *conv_hw(node, geo))


def _team_note(node: Node, geo: Geo, env: dict, form: Form | None) -> str:
    """What the team does for a forward node whose call is one block (compiled/team.py), or ""."""
    n = _batch(node, env)
    if node.op not in ("conv2d", "conv2d_bias_act") or n is None or not team_available(node.inputs[0].type.dtype):
        return ""
    (c, k), (ho, wo) = (node.inputs[0].type.shape[1], node.outputs[0].type.shape[1]), conv_hw(node, geo)
    lone = form is None or n <= samples_per_block(form, ho, wo)
    rows = form.tiles(ho, wo)[0] if form else ho // 2 if node.attrs.get("pool", 1) == 2 else ho
    if not lone or not helper_rows(rows, 2.0 * n * k * (c // geo.g) * geo.kh * geo.kw * ho * wo):
        return ""
    return "; with 2+ BLAS threads, its rows split with the team's helper thread"


def _joint(node: Node, geo: Geo) -> bool:
    """joint_weight_grad for a conv2d_weight_grad node."""
    return node.op == "conv2d_weight_grad" and joint_weight_grad(node.outputs[0].type.shape[0] // geo.g,
                                                                 _positions(node, geo))


def _positions(node: Node, geo: Geo) -> int:
    """Output rows times the columns' row width (the padded width for stride 1) of the node's GEMMs: for the
    stride-1 input gradient, those of its convolution of gy with the flipped kernel."""
    if node.op == "conv2d_input_grad":  # gy padded to width W + d*(k-1) (transposed_as_conv)
        h, w = node.attrs["input_size"]
        return h * (w + geo.dw * (geo.kw - 1))
    ho, wo = conv_hw(node, geo) if node.op in ("conv2d", "conv2d_bias_act") else node.inputs[1].type.shape[2:]
    flat = (geo.sh, geo.sw) == (1, 1) and not geo.pointwise
    return ho * (node.inputs[0].type.shape[3] + geo.pl + geo.pr if flat else wo)
