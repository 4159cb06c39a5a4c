"""The fused LSTM scan path (backends/numpy/recurrent_cell.py) against the generic planned body it replaces, a
plain NumPy loop, float64 finite differences and torch: values and gradients, forward and reverse directions,
two layers, batch 1, odd hidden sizes; and that it serves exactly the scans whose body is gn.nn.LSTM's cell."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.numpy import recurrent_cell, recurrent_loops

RNG = np.random.default_rng(7)


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _np_lstm(x: np.ndarray, w: dict, h: int, layers: int, bi: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch's documented LSTM equations as a plain loop: out (B, T, H·dirs), h_n, c_n."""
    b, t_len, _ = x.shape
    seq, hn, cn = x, [], []
    for k in range(layers):
        outs = []
        for d in range(2 if bi else 1):
            sfx = f"l{k}" + ("_reverse" if d else "")
            wi, wh, bi_, bh = (w[f"{p}_{sfx}"] for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            hh, cc = np.zeros((b, h)), np.zeros((b, h))
            ys = [None] * t_len
            for t in (range(t_len - 1, -1, -1) if d else range(t_len)):
                z = seq[:, t] @ wi.T + bi_ + hh @ wh.T + bh
                i, f, g, o = np.split(z, 4, axis=-1)
                cc = _sig(f) * cc + _sig(i) * np.tanh(g)
                hh = _sig(o) * np.tanh(cc)
                ys[t] = hh
            outs.append(np.stack(ys, axis=1))
            hn.append(hh)
            cn.append(cc)
        seq = np.concatenate(outs, axis=-1)
    return seq, np.stack(hn), np.stack(cn)


def _build(f: int, h: int, layers: int, bi: bool, dtype: str, backend: str = "numpy") -> tuple:
    """An LSTM with a loss on every output and state; the compiled function returns them and all gradients."""
    with gn.Graph("lstm_cell_test") as g:
        x = gn.input("x", (None, None, f), dtype)
        m = gn.nn.LSTM(f, h, num_layers=layers, bidirectional=bi, dtype=dtype)
        out, (hn, cn) = m(x)
        wy = gn.input("wy", (None, None, h * (2 if bi else 1)), dtype)
        loss = gn.sum(out * wy) + gn.sum(hn * hn) + gn.sum(cn)
        grads = gn.grad(loss, [x, *m.params])
    outputs = {"out": out, "hn": hn, "cn": cn, "dx": grads[0],
               **{p.name.rsplit("/", 1)[1]: gr for p, gr in zip(m.params, grads[1:])}}
    return g, m, gn.compile(g, outputs=outputs, backend=backend)


def _run(enabled: bool, monkeypatch: pytest.MonkeyPatch, *args: object, feeds: dict) -> tuple[dict, gn.Graph, object]:
    monkeypatch.setattr(recurrent_cell, "ENABLED", enabled)
    g, m, fn = _build(*args)  # type: ignore[arg-type]
    return {k: np.asarray(v) for k, v in fn(**feeds).items()}, g, m


def _fused_kinds(fn: object) -> list[str]:
    """For each scan of a compiled function: 'fused' where the fused path serves it, else 'generic'."""
    return ["fused" if recurrent_cell.fused_scan(np, n) is not None else "generic"
            for n in fn.graph.nodes if n.op == "scan"]  # type: ignore[attr-defined]


GEOMETRIES = [  # (batch, steps, features, hidden, layers, bidirectional)
    (1, 5, 3, 7, 1, False),
    (4, 6, 5, 9, 2, True),
    (3, 1, 4, 5, 1, True),
    (2, 7, 2, 1, 2, False),
]


@pytest.mark.parametrize("b,t,f,h,layers,bi", GEOMETRIES)
def test_fused_matches_generic_body_and_a_numpy_loop_in_float64(b, t, f, h, layers, bi, monkeypatch) -> None:
    x = RNG.standard_normal((b, t, f))
    wy = RNG.standard_normal((b, t, h * (2 if bi else 1)))
    fused, g, m = _run(True, monkeypatch, f, h, layers, bi, "float64", feeds={"x": x, "wy": wy})
    generic, _, _ = _run(False, monkeypatch, f, h, layers, bi, "float64", feeds={"x": x, "wy": wy})
    assert fused.keys() == generic.keys()
    for k in fused:
        np.testing.assert_allclose(fused[k], generic[k], rtol=1e-10, atol=1e-12, err_msg=k)
    weights = {p.name.rsplit("/", 1)[1]: g.storage.values[p.name] for p in m.params}
    out, hn, cn = _np_lstm(x, weights, h, layers, bi)
    np.testing.assert_allclose(fused["out"], out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused["hn"], hn, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused["cn"], cn, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layers,bi", [(1, False), (2, True)])
def test_fused_matches_generic_body_in_float32(layers: int, bi: bool, monkeypatch) -> None:
    x = RNG.standard_normal((3, 8, 6)).astype("float32")
    wy = RNG.standard_normal((3, 8, 16 * (2 if bi else 1))).astype("float32")
    fused, _, _ = _run(True, monkeypatch, 6, 16, layers, bi, "float32", feeds={"x": x, "wy": wy})
    generic, _, _ = _run(False, monkeypatch, 6, 16, layers, bi, "float32", feeds={"x": x, "wy": wy})
    for k in fused:
        assert fused[k].dtype == np.float32, k
        np.testing.assert_allclose(fused[k], generic[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_the_layer_scans_and_their_gradients_run_fused(monkeypatch) -> None:
    monkeypatch.setattr(recurrent_cell, "ENABLED", True)
    _, _, fn = _build(3, 5, 2, True, "float32")
    assert _fused_kinds(fn) == ["fused"] * 8  # 2 layers x 2 directions, forward and backward
    with gn.Graph("eval") as g:
        x = gn.input("x", (None, 4, 3))
        out, _ = gn.nn.LSTM(3, 5)(x)
    assert _fused_kinds(gn.compile(g, outputs={"out": out}, mode="eval")) == ["fused"]


def test_a_user_written_cell_runs_the_generic_body(monkeypatch) -> None:
    """The same LSTM written by hand (another op order) is not the layer's body: generic, and still right."""
    monkeypatch.setattr(recurrent_cell, "ENABLED", True)
    b, t, h = 2, 5, 4
    xs_v = RNG.standard_normal((t, b, 4 * h))
    w_v = RNG.standard_normal((h, 4 * h)) * 0.5

    def cell(carry, x):
        hp, cp = carry
        z = hp @ w + x
        i, f, g_, o = (z[:, k * h:(k + 1) * h] for k in range(4))
        c = gn.sigmoid(f) * cp + gn.sigmoid(i) * gn.tanh(g_)
        hn = gn.sigmoid(o) * gn.tanh(c)
        return (hn, c), hn

    with gn.Graph("user") as g:
        xs = gn.input("xs", (t, b, 4 * h), "float64")
        w = gn.param("w", (h, 4 * h), "float64", init=lambda s, d: w_v)
        zero = gn.constant(np.zeros((b, h)))
        _, ys = gn.scan(cell, (zero, zero), xs)
        loss = gn.sum(ys * ys)
        (gw,) = gn.grad(loss, [w])
    fn = gn.compile(g, outputs={"ys": ys, "gw": gw})
    assert _fused_kinds(fn) == ["generic", "generic"]
    got = fn(xs=xs_v)
    hh, cc, ref = np.zeros((b, h)), np.zeros((b, h)), []
    for k in range(t):
        i, f, g_, o = np.split(hh @ w_v + xs_v[k], 4, axis=-1)
        cc = _sig(f) * cc + _sig(i) * np.tanh(g_)
        hh = _sig(o) * np.tanh(cc)
        ref.append(hh)
    np.testing.assert_allclose(got["ys"], np.stack(ref), rtol=1e-10, atol=1e-12)
    assert np.all(np.isfinite(got["gw"]))


def test_fused_gradients_match_finite_differences_first_and_second_order(monkeypatch) -> None:
    monkeypatch.setattr(recurrent_cell, "ENABLED", True)
    served = []
    real = recurrent_cell.fused_scan
    monkeypatch.setattr(recurrent_cell, "fused_scan", lambda xp, n: served.append(real(xp, n)) or served[-1])

    def f(x, wy):
        out, (hn, cn) = gn.nn.LSTM(2, 3, bidirectional=True, dtype="float64")(x)
        return gn.sum(out * wy) + gn.sum(hn * cn)

    def grads(x, wy):
        return gn.reshape(gn.grad(f(x, wy), [x])[0], (-1,))

    x, wy = RNG.standard_normal((1, 3, 2)), RNG.standard_normal((1, 3, 6))
    assert max(gn.check_grad(f, x, wy, tol=1e-6).errors.values()) < 1e-6
    assert sum(k is not None for k in served) >= 4  # both directions' forward and backward loops (at least) ran fused
    assert max(gn.check_grad(grads, x, wy, tol=1e-6).errors.values()) < 1e-6


def test_fused_matches_torch_in_float32(monkeypatch) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    monkeypatch.setattr(recurrent_cell, "ENABLED", True)
    torch.manual_seed(0)
    f, h = 6, 11
    tm = torch.nn.LSTM(f, h, num_layers=2, bidirectional=True, batch_first=True)
    g, m, fn = _build(f, h, 2, True, "float32")
    for p in m.params:
        g.storage.values[p.name][...] = getattr(tm, p.name.rsplit("/", 1)[1]).detach().numpy()
    x = RNG.standard_normal((1, 9, f)).astype("float32")
    wy = RNG.standard_normal((1, 9, 2 * h)).astype("float32")
    got = fn(x=x, wy=wy)
    xt = torch.tensor(x, requires_grad=True)
    out, (hn, cn) = tm(xt)
    loss = (out * torch.tensor(wy)).sum() + (hn * hn).sum() + cn.sum()
    loss.backward()
    np.testing.assert_allclose(got["out"], out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["dx"], xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    for p in m.params:
        name = p.name.rsplit("/", 1)[1]
        np.testing.assert_allclose(got[name], getattr(tm, name).grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_fused_path_on_the_cupy_stand_in(monkeypatch) -> None:
    """The kernels are array-module generic: through backend="cupy" on the CPU stand-in, the same values."""
    from graphnn.backends.cupy import backend as cupy_backend
    from tests.backends.cupy.standin import cupy as standin_cupy

    monkeypatch.setattr(cupy_backend, "load_cupy", lambda: standin_cupy)
    x = RNG.standard_normal((2, 5, 3)).astype("float32")
    wy = RNG.standard_normal((2, 5, 8)).astype("float32")
    host, _, _ = _run(True, monkeypatch, 3, 4, 1, True, "float32", feeds={"x": x, "wy": wy})
    monkeypatch.setattr(recurrent_cell, "ENABLED", True)
    served = []
    real = recurrent_cell.fused_scan
    monkeypatch.setattr(recurrent_cell, "fused_scan", lambda xp, n: served.append(real(xp, n)) or served[-1])
    _, _, fn = _build(3, 4, 1, True, "float32", "cupy")
    dev = {k: standin_cupy.asnumpy(v) for k, v in fn(x=x, wy=wy).items()}
    for k in host:
        np.testing.assert_allclose(dev[k], host[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert len(served) == 4 and all(k is not None for k in served)


def test_backward_kernel_reads_separate_residual_arrays_like_one_block() -> None:
    """The backward loop takes the gates as one array's blocks (the forward's layout) or as separate arrays (any
    other producer): the same values either way, and against the gradient of a plain NumPy loop (float64)."""
    b, t_len, h = 3, 4, 5
    xs = RNG.standard_normal((t_len, b, 4 * h))
    w = RNG.standard_normal((h, 4 * h)) * 0.4
    h0, c0 = RNG.standard_normal((b, h)), RNG.standard_normal((b, h))
    res = ["i", "f", "tg", "o", "tc"]
    outs = recurrent_loops.lstm_forward(np, h, False, res, True)(h0, c0, xs, w)
    ys, r, (hs, cs) = outs[2], outs[3:8], outs[8:10]
    assert recurrent_loops._one_block(list(r[:4])) is not None
    gy = RNG.standard_normal((t_len, b, h))
    back = recurrent_loops.lstm_backward(np, h, True, res, False)
    zeros = np.zeros((b, h))
    blocked = back(zeros, zeros, hs, cs, xs, gy, *r, w)
    separate = [np.array(a, copy=True) for a in r]
    assert recurrent_loops._one_block(separate[:4]) is None
    apart = back(zeros, zeros, hs, cs, xs, gy, *separate, w)
    for p, q in zip(blocked[:3], apart[:3]):
        np.testing.assert_array_equal(p, q)

    def loss(xs_: np.ndarray) -> float:  # sum(ys * gy) by a plain loop
        hh, cc, tot = h0, c0, 0.0
        for k in range(t_len):
            i, f, g, o = np.split(xs_[k] + hh @ w, 4, axis=-1)
            cc = _sig(f) * cc + _sig(i) * np.tanh(g)
            hh = _sig(o) * np.tanh(cc)
            tot += float(np.sum(hh * gy[k]))
        return tot

    np.testing.assert_allclose(ys, np.stack([_np_step_h(xs, w, h0, c0, k) for k in range(t_len)]), rtol=1e-12)
    eps, dz = 1e-6, blocked[2]
    for idx in [(0, 0, 0), (1, 2, 7), (3, 1, 4 * h - 1), (2, 0, 2 * h + 1)]:
        e = np.zeros_like(xs)
        e[idx] = eps
        fd = (loss(xs + e) - loss(xs - e)) / (2 * eps)
        assert abs(fd - dz[idx]) < 1e-7 * max(1.0, abs(fd)), idx


def _np_step_h(xs: np.ndarray, w: np.ndarray, h0: np.ndarray, c0: np.ndarray, upto: int) -> np.ndarray:
    """h after step `upto` of a plain loop."""
    hh, cc = h0, c0
    for k in range(upto + 1):
        i, f, g, o = np.split(xs[k] + hh @ w, 4, axis=-1)
        cc = _sig(f) * cc + _sig(i) * np.tanh(g)
        hh = _sig(o) * np.tanh(cc)
    return hh


def test_a_loss_on_the_final_state_only_matches_the_generic_body(monkeypatch) -> None:
    """No gradient reaches the per-step outputs: other residuals and another gradient body (run generic where
    they differ from the reference), same numbers."""
    x = RNG.standard_normal((2, 5, 3))
    got = {}
    for enabled in (True, False):
        monkeypatch.setattr(recurrent_cell, "ENABLED", enabled)
        with gn.Graph("final_only") as g:
            xi = gn.input("x", (None, None, 3), "float64")
            m = gn.nn.LSTM(3, 4, dtype="float64")
            _, (hn, cn) = m(xi)
            loss = gn.sum(hn * cn)
            grads = gn.grad(loss, [xi, *m.params])
        fn = gn.compile(g, outputs={"loss": loss, **{f"g{k}": v for k, v in enumerate(grads)}})
        got[enabled] = fn(x=x)
    for k in got[True]:
        np.testing.assert_allclose(got[True][k], got[False][k], rtol=1e-10, atol=1e-12, err_msg=k)


def _build_layer(cls: type, f: int, h: int, layers: int, bi: bool, dtype: str = "float64", **kw: object) -> tuple:
    """A gn.nn.RNN or GRU with a loss on every output and the final state; compiled with all gradients."""
    with gn.Graph("cell_test") as g:
        x = gn.input("x", (None, None, f), dtype)
        m = cls(f, h, num_layers=layers, bidirectional=bi, dtype=dtype, **kw)
        out, hn = m(x)
        wy = gn.input("wy", (None, None, h * (2 if bi else 1)), dtype)
        loss = gn.sum(out * wy) + gn.sum(hn * hn)
        grads = gn.grad(loss, [x, *m.params])
    outputs = {"out": out, "hn": hn, "dx": grads[0],
               **{p.name.rsplit("/", 1)[1]: gr for p, gr in zip(m.params, grads[1:])}}
    return g, m, gn.compile(g, outputs=outputs)


def _elman(xs: np.ndarray, hh: np.ndarray, w: dict, sfx: str, h: int) -> np.ndarray:
    """PyTorch's Elman (tanh) step, plainly."""
    return np.tanh(xs @ w[f"weight_ih_{sfx}"].T + w[f"bias_ih_{sfx}"] + hh @ w[f"weight_hh_{sfx}"].T
                   + w[f"bias_hh_{sfx}"])


def _gru(xs: np.ndarray, hh: np.ndarray, w: dict, sfx: str, h: int) -> np.ndarray:
    """PyTorch's GRU step, plainly."""
    gi = xs @ w[f"weight_ih_{sfx}"].T + w[f"bias_ih_{sfx}"]
    gh = hh @ w[f"weight_hh_{sfx}"].T + w[f"bias_hh_{sfx}"]
    r, z = _sig(gi[:, :h] + gh[:, :h]), _sig(gi[:, h:2 * h] + gh[:, h:2 * h])
    return (1 - z) * np.tanh(gi[:, 2 * h:] + r * gh[:, 2 * h:]) + z * hh


def _np_stack(x: np.ndarray, w: dict, h: int, layers: int, bi: bool, step: object) -> np.ndarray:
    """The layers' outputs (B, T, H·dirs) of a one-state recurrence `step`, both directions, as a plain loop."""
    b, t = x.shape[:2]
    seq = x
    for k in range(layers):
        outs = []
        for d in range(2 if bi else 1):
            sfx = f"l{k}" + ("_reverse" if d else "")
            hh, ys = np.zeros((b, h)), [None] * t
            for s in (range(t - 1, -1, -1) if d else range(t)):
                hh = ys[s] = step(seq[:, s], hh, w, sfx, h)  # type: ignore[operator]
            outs.append(np.stack(ys, axis=1))
        seq = np.concatenate(outs, axis=-1)
    return seq


@pytest.mark.parametrize("cls,step", [(gn.nn.RNN, _elman), (gn.nn.GRU, _gru)], ids=["rnn", "gru"])
@pytest.mark.parametrize("b,t,f,h,layers,bi", GEOMETRIES)
def test_fused_rnn_and_gru_match_generic_body_and_a_numpy_loop_in_float64(cls, step, b, t, f, h, layers, bi,
                                                                         monkeypatch) -> None:
    x = RNG.standard_normal((b, t, f))
    wy = RNG.standard_normal((b, t, h * (2 if bi else 1)))
    got = {}
    for enabled in (True, False):
        monkeypatch.setattr(recurrent_cell, "ENABLED", enabled)
        g, m, fn = _build_layer(cls, f, h, layers, bi)
        assert set(_fused_kinds(fn)) == {"fused" if enabled else "generic"}
        got[enabled] = fn(x=x, wy=wy)
    for k in got[True]:
        np.testing.assert_allclose(got[True][k], got[False][k], rtol=1e-10, atol=1e-12, err_msg=k)
    w = {p.name.rsplit("/", 1)[1]: g.storage.values[p.name] for p in m.params}
    np.testing.assert_allclose(got[True]["out"], _np_stack(x, w, h, layers, bi, step), rtol=1e-10, atol=1e-12)


def test_relu_rnn_runs_the_generic_body(monkeypatch) -> None:
    monkeypatch.setattr(recurrent_cell, "ENABLED", True)
    _, _, fn = _build_layer(gn.nn.RNN, 3, 4, 1, True, nonlinearity="relu")
    assert _fused_kinds(fn) == ["generic"] * 4


@pytest.mark.parametrize("cls", [gn.nn.RNN, gn.nn.GRU], ids=["rnn", "gru"])
def test_fused_rnn_and_gru_gradients_match_finite_differences(cls: type, monkeypatch) -> None:
    monkeypatch.setattr(recurrent_cell, "ENABLED", True)

    def f(x):
        out, hn = cls(2, 3, bidirectional=True, dtype="float64")(x)
        return gn.sum(out * out) + gn.sum(hn)

    assert max(gn.check_grad(f, RNG.standard_normal((2, 4, 2)), tol=1e-6).errors.values()) < 1e-6
