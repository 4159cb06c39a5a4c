"""The fused loops behind recurrent_cell.py's structural match: forward and gradient loops of the LSTM, tanh RNN
and GRU cells, each a few whole-array calls per step writing in place into stacked arrays that are the scan
node's outputs (no feeds dict, no copies of body outputs). Each computes exactly what its cell's body
(`lstm_body`, `rnn_body`, `gru_body`) and the gradient rule's reverse scan of it compute, output for output,
in the order the node lists them. Array-module generic (NumPy/CuPy). Imports nothing from graphnn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Kernel = Callable[..., Any]


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


def gru_forward(xp: Any, h: int, reverse: bool, res: list[str], keep: bool) -> Kernel:
    """The GRU's loop: per step one GEMM into row t of the stacked h·W_hh + b_hh, the gates and the update
    written in place into stacked arrays the residuals are (views of)."""

    def run(h0: Any, xs: Any, w: Any, bhh: Any) -> tuple:
        length, b = xs.shape[0], h0.shape[0]
        dt = xs.dtype
        w = xp.ascontiguousarray(w)
        hs = xp.empty((length + 1, b, h), dt)
        gh, rz = xp.empty((length, b, 3 * h), dt), xp.empty((length, b, 2 * h), dt)
        n, d = xp.empty((length, b, h), dt), xp.empty((length, b, h), dt)
        hs[length if reverse else 0] = h0
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            src, dst = (t + 1, t) if reverse else (t, t + 1)
            g, s, nt, x = gh[t], rz[t], n[t], xs[t]
            xp.matmul(hs[src], w, out=g)
            xp.add(g, bhh, out=g)
            xp.add(x[:, :2 * h], g[:, :2 * h], out=s)
            xp.multiply(s, 0.5, out=s)  # sigmoid as 0.5·tanh(x/2) + 0.5
            xp.tanh(s, out=s)
            xp.multiply(s, 0.5, out=s)
            xp.add(s, 0.5, out=s)
            xp.multiply(s[:, :h], g[:, 2 * h:], out=nt)
            xp.add(nt, x[:, 2 * h:], out=nt)
            xp.tanh(nt, out=nt)
            xp.subtract(hs[src], nt, out=d[t])
            xp.multiply(s[:, h:], d[t], out=hs[dst])
            xp.add(hs[dst], nt, out=hs[dst])
        final = hs[0].copy() if reverse else hs[length].copy()
        ys = hs[:length] if reverse else hs[1:]
        named = {"rz": rz, "r": rz[:, :, :h], "z": rz[:, :, h:], "ghn": gh[:, :, 2 * h:], "n": n, "d": d, "h": ys}
        if keep:
            saved = hs[1:] if reverse else hs[:length]
        else:
            saved = xp.broadcast_to(final, (length, *final.shape))
        return (final, ys, *[named[r] for r in res], saved)

    return run


def gru_backward(xp: Any, h: int, reverse: bool, res: list[str], keep: bool) -> Kernel:
    """The GRU's gradient loop: per step the cotangents of the gates' inputs written into rows t of the stacked
    dx (B, 3H) and d(h·W_hh + b_hh), and dh = dht·z + d(gh)_t·W_hhᵀ; b_hh's gradient (carried by the gradient
    rule) is one sum over all steps after the loop. Inputs: the carries' cotangents (h, b_hh), saved h, x_t,
    gy_t, residuals, W_hh, b_hh."""
    pos = {r: k for k, r in enumerate(res)}

    def run(dh0: Any, db0: Any, hs: Any, xs: Any, gy: Any, *rest: Any) -> tuple:
        r, w = rest[:-2], rest[-2]
        rz, rr, zz, ghn, n, d = (r[pos[k]] for k in ("rz", "r", "z", "ghn", "n", "d"))
        length, b = gy.shape[0], dh0.shape[0]
        dt = gy.dtype
        wt = xp.ascontiguousarray(w.T)
        dx, dg = xp.empty((length, b, 3 * h), dt), xp.empty((length, b, 3 * h), dt)
        dh = dh0.copy()
        a, q = xp.empty((b, h), dt), xp.empty((b, h), dt)
        s, p = xp.empty((b, 2 * h), dt), xp.empty((b, h), dt)
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            x_, g_ = dx[t], dg[t]
            xp.add(dh, gy[t], out=dh)  # the cotangent of this step's h
            xp.subtract(1, zz[t], out=a)
            xp.multiply(a, dh, out=a)
            xp.multiply(n[t], n[t], out=q)
            xp.subtract(1, q, out=q)
            xp.multiply(a, q, out=x_[:, 2 * h:])  # d of n's input
            xp.multiply(x_[:, 2 * h:], rr[t], out=g_[:, 2 * h:])  # d ghn
            xp.subtract(1, rz[t], out=s)
            xp.multiply(s, rz[t], out=s)  # the sigmoid's slope
            xp.multiply(x_[:, 2 * h:], ghn[t], out=x_[:, :h])  # d r
            xp.multiply(dh, d[t], out=x_[:, h:2 * h])  # d z
            xp.multiply(x_[:, :2 * h], s, out=x_[:, :2 * h])
            xp.copyto(g_[:, :2 * h], x_[:, :2 * h])
            xp.matmul(g_, wt, out=p)
            xp.multiply(dh, zz[t], out=dh)
            xp.add(dh, p, out=dh)
        db = db0 + xp.sum(dg.reshape(-1, 3 * h), axis=0)
        saved = tuple(xp.broadcast_to(v, (length, *v.shape)) for v in (dh, db))
        return (dh, db, dx, dg, *saved)

    return run


LOOPS = {"lstm": (lstm_forward, lstm_backward), "rnn": (rnn_forward, rnn_backward), "gru": (gru_forward, gru_backward)}
