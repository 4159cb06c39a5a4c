"""A fused LSTM path for `scan` nodes: the cell body gn.nn.LSTM traces (defined here, `lstm_body`), its forward
loop with residuals and its backward loop, each run as a few whole-array calls per step writing in place into
the stacked results (no per-step feeds dict, no copies of body outputs into stacked arrays).

The body graph stays the specification: a scan runs fused only when its body is, op for op (attrs, constants,
inputs by position), the body a reference scan of `lstm_body` has (plain, extended with its residuals by the
gradient rule, or that gradient's reverse scan), traced here once per (hidden, dtype); anything else, a
user-written body included, runs the generic planned body (control_flow.py). Array-module generic (NumPy/CuPy).
Imports graphnn.ir only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ...ir import subgraph
from ...ir.builder import input as graph_input
from ...ir.graph import Graph, Value
from ...ir.op_registry import get_op
from ...ir.ops import elementwise as ew
from ...ir.ops.control_flow import scan

Kernel = Callable[..., Any]


def gate(x: Value) -> Value:
    """sigmoid(x) as 0.5·tanh(x/2) + 0.5: the same function, in ops the elementwise fusion joins into one kernel
    with the rest of the cell (the stable sigmoid kernel is five array passes on its own; measured 2x per step).
    Near 0 the absolute error is that of tanh near -1 (about 1 ulp of 1), which is all a gate multiplies."""
    return ew.tanh(x * 0.5) * 0.5 + 0.5


def lstm_body(h: int, whh: Value, names: dict[str, str] | None = None) -> Callable[..., Any]:
    """The LSTM cell on carry (h, c) and x_t = the step's input projection (gates i, f, g, o); `names`, when
    given, records the body value names of the intermediates the fused path can hand out as residuals."""

    def lstm_cell(carry: tuple[Value, Value], x: Value) -> tuple[tuple[Value, Value], Value]:
        hp, cp = carry
        z = x + hp @ whh
        # sigmoid, whose gradient reads only its output: the backward keeps 5 values per step (i, f, o, tanh(g),
        # tanh(c)) where tanh-spelled gates kept 8
        i, f, o = (ew.sigmoid(z[:, a * h:(a + 1) * h]) for a in (0, 1, 3))
        tg = ew.tanh(z[:, 2 * h: 3 * h])
        c = f * cp + i * tg
        tc = ew.tanh(c)
        hn = o * tc
        if names is not None:
            named = {"i": i, "f": f, "o": o, "tg": tg, "c": c, "tc": tc, "h": hn}
            names.update({v.name: k for k, v in named.items()})
        return (hn, c), hn

    return lstm_cell


def rnn_body(whh: Value, act: Callable[[Value], Value] = ew.tanh,
             names: dict[str, str] | None = None) -> Callable[..., Any]:
    """The Elman cell h' = act(x_t + h·W_hh) (x_t the step's input projection with both biases)."""

    def rnn_cell(h: Value, x: Value) -> tuple[Value, Value]:
        h2 = act(x + h @ whh)
        if names is not None:
            names[h2.name] = "h"
        return h2, h2

    return rnn_cell


def _canon(g: Graph) -> tuple:
    """The structure of a body: per node its op, attrs and inputs by position (graph inputs by index, dtype and
    rank; constants by value), then the outputs by position. Names and locations are left out. O(n + E)."""
    key: dict[int, tuple] = {v.id: ("in", k, v.dtype, v.ndim) for k, v in enumerate(g.inputs)}
    for v in g.const_values:
        a = g.constants[v.id]  # a host array (graph constants are NumPy's)
        key[v.id] = ("const", str(a.dtype), tuple(a.shape), a.tobytes())
    nodes = []
    for i, n in enumerate(g.nodes):
        nodes.append((n.op, repr(sorted(n.attrs.items())), tuple(key.get(v.id, ("?", v.id)) for v in n.inputs)))
        for j, o in enumerate(n.outputs):
            key[o.id] = ("n", i, j)
    return tuple(key[v.id] for v in g.inputs), tuple(nodes), tuple(key.get(v.id) for v in g.outputs.values())


@functools.lru_cache(maxsize=32)
def _reference(cell: str, hidden: int, dtype: str) -> dict[str, Any]:
    """Canonical bodies of a reference scan of `cell` ("lstm" or "rnn", tanh): plain ("infer"), extended with
    residuals ("fwd") and its gradient's reverse scan ("bwd"), and what each residual of the extension is."""
    names: dict[str, str] = {}
    gates = 4 if cell == "lstm" else 1
    with Graph(f"{cell}_reference") as g:
        carry = tuple(graph_input(f"c{k}", (None, hidden), dtype) for k in range(2 if cell == "lstm" else 1))
        xs = graph_input("xs", (None, None, gates * hidden), dtype)
        whh = graph_input("whh", (hidden, gates * hidden), dtype)
        body = lstm_body(hidden, whh, names) if cell == "lstm" else rnn_body(whh, names=names)
        _, ys = scan(body, carry if cell == "lstm" else carry[0], xs)
        node = ys.producer
        gouts: list[Value | None] = [None] * len(node.outputs)
        gouts[len(carry)] = graph_input("gy", tuple(ys.shape), dtype)
        get_op("scan").grad(node, gouts)
    scans = [n for n in g.nodes if n.op == "scan"]
    fwd = next(n for n in scans if n.attrs["n_res"])
    bwd = next(n for n in scans if n.attrs["reverse"])
    ext = subgraph.decode(fwd.attrs["body"])
    res = [names.get(v.name, "") for k, v in ext.outputs.items() if k.startswith("res")]
    return {"infer": _canon(subgraph.decode(node.attrs["body"])), "fwd": _canon(ext), "res": res,
            "bwd": _canon(subgraph.decode(bwd.attrs["body"]))}


ENABLED = True  # tests switch it off to compare with the generic planned body


def fused_scan(xp: Any, node: Any) -> Kernel | None:
    """The fused kernel for a scan node whose body is a reference LSTM or tanh-RNN cell's (forward or backward),
    else None."""
    a = node.attrs
    body = subgraph.decode(a["body"])
    nc, n_in = a["n_carry"], len(body.inputs)
    # cheap gates first: a layer-tagged forward, or a gradient scan of its shape (the carried cotangents, W_hh)
    if a.get("cell") == "lstm" and n_in == 4:
        cell = "lstm"
    elif a.get("cell") == "rnn" and a.get("activation") == "tanh" and n_in == 3:
        cell = "rnn"
    elif nc in (1, 2) and a["n_xs"] >= 3 and n_in == a["n_xs"] + nc + 1:
        cell = "lstm" if nc == 2 else "rnn"
    else:
        return None
    if not ENABLED or body.inputs[0].ndim != 2 or not body.inputs[0].type.is_float:
        return None
    hidden, dtype = body.inputs[0].shape[-1], body.inputs[0].dtype
    if not isinstance(hidden, int):
        return None
    ref = _reference(cell, hidden, dtype)
    c = _canon(body)
    keep = a.get("keep_saved", True)
    forward, backward = (lstm_forward, lstm_backward) if cell == "lstm" else (rnn_forward, rnn_backward)
    if c == ref["infer"] or c == ref["fwd"]:
        res = ref["res"] if c == ref["fwd"] else []
        if not all(r in _FORWARD_RES[cell] for r in res):
            return None
        return forward(xp, hidden, a["reverse"], res, keep)
    if c == ref["bwd"] and not keep and _BACKWARD_RES[cell] <= set(ref["res"]):
        # (a kept stack of the cotangents is read by a second-order gradient: generic)
        return backward(xp, hidden, a["reverse"], ref["res"], keep)
    return None


_FORWARD_RES = {"lstm": ("i", "f", "tg", "o", "tc", "c", "h"), "rnn": ("h",)}  # what the forward hands out
_BACKWARD_RES = {"lstm": {"i", "f", "tg", "o", "tc"}, "rnn": {"h"}}  # what the backward reads


# Internally the gates are stored gate-major, (4, B, H) per step in the layer's order (i, f, g, o): every block
# a contiguous (B, H) array (a column block of (B, 4H) is strided: 3.6x slower per ufunc call, measured) and one
# step's four gates one contiguous array (one call per elementwise stage), with the gate products h·W_k one
# batched GEMM (38 us against 49 us for (32, 128) @ (128, 512), measured).
_HALF = (0.5, 0.5, 1.0, 0.5)  # the factor before tanh per gate block: z/2 for the sigmoid gates
_SHIFT = (0.5, 0.5, 0.0, 0.5)  # gate = HALF·tanh + SHIFT (the g block stays tanh(g))


def _blocks(xp: Any, vals: tuple, dt: Any, shape: tuple = (1, 1)) -> Any:
    """A per-gate constant as a (4, *shape) array: full (4, B, H) for the loop, where a broadcast (4, 1, 1)
    operand makes a ufunc call take 4 us instead of 2 (measured at (4, 32, 128) float32)."""
    return xp.broadcast_to(xp.asarray(vals, dtype=dt)[:, None, None], (4, *shape)).copy()


def _gate_major(xp: Any, w: Any, h: int) -> Any:
    """W_hh as (4, H, H) with the sigmoid gates' columns halved (exact in binary floating point), so the loop
    needs no multiply for tanh(z/2) on the product; the step's input is halved on its way in (one call on a
    strided view: 7 % faster than a gate-major copy of all steps made first, measured)."""
    w4 = xp.empty((4, h, h), w.dtype)
    xp.multiply(w.reshape(h, 4, h).transpose(1, 0, 2), _blocks(xp, _HALF, w.dtype), out=w4)
    return w4


def lstm_forward(xp: Any, h: int, reverse: bool, res: list[str], keep: bool) -> Kernel:
    """Forward loop: per step the four gate products h·W_k (one batched GEMM), one tanh and one affine over all
    gates, then the cell update, all written in place into stacked arrays that are the node's outputs (views, no
    copies). Outputs: final h, c; ys (h each step, then the residuals `res`); the carries each step started from."""

    def run(h0: Any, c0: Any, xs: Any, w: Any) -> tuple:
        length, b = xs.shape[0], h0.shape[0]
        dt = xs.dtype
        w4 = _gate_major(xp, w, h)
        xsv = xs.reshape(length, b, 4, h).transpose(0, 2, 1, 3)  # step t as (4, B, H) gate blocks (strided)
        half, shift = _blocks(xp, _HALF, dt, (b, h)), _blocks(xp, _SHIFT, dt, (b, h))
        hs, cs = xp.empty((length + 1, b, h), dt), xp.empty((length + 1, b, h), dt)
        stacked = bool(res)  # residuals: every step's gates kept, else one step's buffers reused
        tz = xp.empty((4, b, h), dt)
        gv = xp.empty((length if stacked else 1, 4, b, h), dt)
        tc = xp.empty((length if stacked else 1, b, h), dt)
        zb = xp.empty((4, b, h), dt)
        ig = xp.empty((b, h), dt)
        first = length if reverse else 0
        hs[first], cs[first] = h0, c0
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            src, dst = (t + 1, t) if reverse else (t, t + 1)
            k = t if stacked else 0
            z, g, cn = tz, gv[k], cs[dst]
            xp.matmul(hs[src], w4, out=zb)
            xp.multiply(xsv[t], half, out=z)
            xp.add(z, zb, out=z)
            xp.tanh(z, out=z)  # tanh(i/2), tanh(f/2), tanh(g), tanh(o/2)
            xp.multiply(z, half, out=g)
            xp.add(g, shift, out=g)  # gates i, f, tanh(g), o
            xp.multiply(g[1], cs[src], out=cn)
            xp.multiply(g[0], g[2], out=ig)
            xp.add(cn, ig, out=cn)
            xp.tanh(cn, out=tc[k])
            xp.multiply(g[3], tc[k], out=hs[dst])
        final = (hs[0].copy(), cs[0].copy()) if reverse else (hs[length].copy(), cs[length].copy())
        ys_h = hs[:length] if reverse else hs[1:]
        named = {"i": (gv, 0), "f": (gv, 1), "tg": (gv, 2), "o": (gv, 3)}
        outs = []
        for r in res:
            if r in named:
                arr, j = named[r]
                outs.append(arr[:, j])
            else:
                outs.append({"tc": tc, "c": cs[:length] if reverse else cs[1:], "h": ys_h}[r])
        if keep:
            saved = (hs[1:], cs[1:]) if reverse else (hs[:length], cs[:length])
        else:
            saved = tuple(xp.broadcast_to(f, (length, *f.shape)) for f in final)
        return (*final, ys_h, *outs, *saved)

    return run


def _ptr(a: Any) -> int:
    """The address of an array's first element (NumPy or CuPy)."""
    return a.__array_interface__["data"][0] if hasattr(a, "__array_interface__") else a.data.ptr


def _one_block(views: list[Any]) -> Any:
    """The (T, 4, B, H) array whose gate blocks `views` are (as lstm_forward hands them out), or None: then
    one call squares all four gates of a step instead of four."""
    base = views[0].base
    if base is None or base.ndim != 4 or base.shape[1] != 4:
        return None
    for j, v in enumerate(views):
        b = base[:, j]
        if v.base is not base or v.shape != b.shape or v.strides != b.strides or _ptr(v) != _ptr(b):
            return None
    return base


def lstm_backward(xp: Any, h: int, reverse: bool, res: list[str], keep: bool) -> Kernel:
    """Reverse loop of the LSTM's gradient: per step the gate cotangents as one gate-major (4, B, H) expression
    written into row t of the stacked dz (B, 4H) (a strided view), and the previous h's cotangent as one batched
    GEMM dz_t,k · W_kᵀ summed over the gates. Inputs as the gradient rule orders them: carries' cotangents, saved
    h and c, x_t, gy_t, residuals, W_hh. The four gates' slopes in one expression of u = (i, f, tanh(g), o):
    (1 - u)·(u + (0, 0, 1, 0)), i.e. s·(1 - s) and (1 - t)·(1 + t); u is read as one block where the residuals
    are one array's blocks (as lstm_forward hands them out), else gathered per step."""
    pos = {r: k for k, r in enumerate(res)}

    def run(dh0: Any, dc0: Any, hs: Any, cs: Any, xs: Any, gy: Any, *rest: Any) -> tuple:
        r, w = rest[:-1], rest[-1]
        length, b = gy.shape[0], dh0.shape[0]
        dt = gy.dtype
        w4t = xp.ascontiguousarray(w.reshape(h, 4, h).transpose(1, 2, 0))  # W_kᵀ per gate
        gates = [r[pos[k]] for k in ("i", "f", "tg", "o")]
        tc = r[pos["tc"]]
        u4 = _one_block(gates)
        one_g = _blocks(xp, (0.0, 0.0, 1.0, 0.0), dt, (b, h))
        dz = xp.empty((length, b, 4 * h), dt)
        dzv = dz.reshape(length, b, 4, h).transpose(0, 2, 1, 3)  # row t as (4, B, H) blocks
        dh, dc = dh0.copy(), dc0.copy()
        a = xp.empty((b, h), dt)
        d4, s4, p4, g4 = (xp.empty((4, b, h), dt) for _ in range(4))
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            tct = tc[t]
            if u4 is not None:
                u = u4[t]
            else:
                u = g4
                for j, gj in enumerate(gates):
                    xp.copyto(u[j], gj[t])
            xp.add(dh, gy[t], out=dh)  # the cotangent of this step's h
            xp.multiply(tct, tct, out=a)
            xp.subtract(1, a, out=a)
            xp.multiply(a, dh, out=a)
            xp.multiply(a, u[3], out=a)
            xp.add(dc, a, out=dc)  # the cotangent of this step's c
            xp.multiply(dc, u[2], out=d4[0])  # d i
            xp.multiply(dc, cs[t], out=d4[1])  # d f
            xp.multiply(dc, u[0], out=d4[2])  # d tanh(g)
            xp.multiply(dh, tct, out=d4[3])  # d o
            xp.subtract(1, u, out=s4)
            xp.add(u, one_g, out=p4)
            xp.multiply(s4, p4, out=s4)
            xp.multiply(d4, s4, out=dzv[t])
            xp.matmul(dzv[t], w4t, out=p4)
            xp.add(p4[0], p4[1], out=dh)  # (three adds: 3 us; a sum over the gate axis: 6 us)
            xp.add(dh, p4[2], out=dh)
            xp.add(dh, p4[3], out=dh)
            xp.multiply(dc, u[1], out=dc)
        saved = tuple(xp.broadcast_to(v, (length, *v.shape)) for v in (dh, dc))
        return (dh, dc, dz, dz, *saved)

    return run


def rnn_forward(xp: Any, h: int, reverse: bool, res: list[str], keep: bool) -> Kernel:
    """The tanh RNN's loop: per step one GEMM, one add and one tanh, in place into the stacked h (the ys, the
    residual h and the saved carries are views of it)."""

    def run(h0: Any, xs: Any, w: Any) -> tuple:
        length, b = xs.shape[0], h0.shape[0]
        w = xp.ascontiguousarray(w)
        hs = xp.empty((length + 1, b, h), xs.dtype)
        zb = xp.empty((b, h), xs.dtype)
        hs[length if reverse else 0] = h0
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            src, dst = (t + 1, t) if reverse else (t, t + 1)
            xp.matmul(hs[src], w, out=zb)
            xp.add(zb, xs[t], out=hs[dst])
            xp.tanh(hs[dst], out=hs[dst])
        final = hs[0].copy() if reverse else hs[length].copy()
        ys = hs[:length] if reverse else hs[1:]
        if keep:
            saved = hs[1:] if reverse else hs[:length]
        else:
            saved = xp.broadcast_to(final, (length, *final.shape))
        return (final, ys, *[ys for _ in res], saved)

    return run


def rnn_backward(xp: Any, h: int, reverse: bool, res: list[str], keep: bool) -> Kernel:
    """The tanh RNN's gradient loop: dz_t = (dh + gy_t)·(1 - h_t²) into row t of the stacked dz, dh = dz_t·W_hhᵀ.
    Inputs as the gradient rule orders them: the carry's cotangent, saved h, x_t, gy_t, residuals, W_hh."""
    k = res.index("h")

    def run(dh0: Any, hs: Any, xs: Any, gy: Any, *rest: Any) -> tuple:
        r, w = rest[:-1], rest[-1]
        hn = r[k]
        length, b = gy.shape[0], dh0.shape[0]
        wt = xp.ascontiguousarray(w.T)
        dz = xp.empty((length, b, h), gy.dtype)
        dh, a = dh0.copy(), xp.empty((b, h), gy.dtype)
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            xp.add(dh, gy[t], out=dh)
            xp.multiply(hn[t], hn[t], out=a)
            xp.subtract(1, a, out=a)
            xp.multiply(dh, a, out=dz[t])
            xp.matmul(dz[t], wt, out=dh)
        return (dh, dz, dz, xp.broadcast_to(dh, (length, *dh.shape)))

    return run
