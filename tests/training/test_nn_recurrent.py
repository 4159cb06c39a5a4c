"""gn.nn.RNN/LSTM/GRU against plain NumPy loops in float64 (always) and against torch.nn with the weights copied
over in float32 (when torch is installed): outputs, final states and every parameter's gradient."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

RNG = np.random.default_rng(0)


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _cell(kind: str, w_ih, w_hh, b_ih, b_hh):
    """One step of PyTorch's documented equations, written plainly."""
    def lstm(state, x):
        h, c = state
        z = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sig(f) * c + _sig(i) * np.tanh(g)
        h = _sig(o) * np.tanh(c)
        return (h, c), h

    def gru(state, x):
        (h,) = state
        gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        r = _sig(gi[:, :H] + gh[:, :H])
        z = _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        return (h,), h

    def rnn(state, x):
        (h,) = state
        h = np.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        return (h,), h

    return {"LSTM": lstm, "GRU": gru, "RNN": rnn}[kind]


H = 5


def _np_forward(kind: str, x: np.ndarray, weights: dict, layers: int, bidirectional: bool):
    """Stacked (bi)directional loops; returns out (B, T, H·dirs) and the final states like PyTorch's."""
    B, T, _ = x.shape
    dirs = 2 if bidirectional else 1
    finals = []
    seq = x
    for k in range(layers):
        outs = []
        for d in range(dirs):
            sfx = f"l{k}" + ("_reverse" if d else "")
            cell = _cell(kind, *(weights[f"{p}_{sfx}"] for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
            state = tuple(np.zeros((B, H)) for _ in range(2 if kind == "LSTM" else 1))
            ys = [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):
                state, ys[t] = cell(state, seq[:, t])
            outs.append(np.stack(ys, axis=1))
            finals.append(state)
        seq = np.concatenate(outs, axis=-1)
    state = tuple(np.stack([f[i] for f in finals]) for i in range(len(finals[0])))
    return seq, state


def _build(kind: str, F: int, layers: int, bi: bool, dtype: str):
    with gn.Graph("rec") as g:
        x = gn.input("x", (None, None, F), dtype)
        m = getattr(gn.nn, kind)(F, H, num_layers=layers, bidirectional=bi, dtype=dtype)
        out, state = m(x)
        states = state if isinstance(state, tuple) else (state,)
        loss = gn.sum(out * out) + sum(gn.sum(s * s) for s in states)
        grads = gn.grad(loss, m.params)
    outputs = {"out": out, **{f"s{i}": s for i, s in enumerate(states)},
               **{f"g:{p.name.rsplit('/', 1)[1]}": gr for p, gr in zip(m.params, grads)}}
    return g, m, gn.compile(g, outputs=outputs)


CONFIGS = [(k, layers, bi) for k in ("LSTM", "GRU", "RNN") for layers, bi in ((1, False), (2, True))]


@pytest.mark.parametrize("kind,layers,bi", CONFIGS)
def test_matches_a_numpy_loop_in_float64(kind: str, layers: int, bi: bool) -> None:
    g, m, fn = _build(kind, 3, layers, bi, "float64")
    weights = {p.name.rsplit("/", 1)[1]: g.storage.values[p.name] for p in m.params}
    X = RNG.standard_normal((2, 4, 3))
    out = fn(x=X)
    ref, state = _np_forward(kind, X, weights, layers, bi)
    assert out["out"].shape == (2, 4, H * (2 if bi else 1))
    np.testing.assert_allclose(out["out"], ref, rtol=1e-10, atol=1e-12)
    for i, s in enumerate(state):
        np.testing.assert_allclose(out[f"s{i}"], s, rtol=1e-10, atol=1e-12)


def test_lstm_gradient_matches_finite_differences() -> None:
    def f(x):
        lstm = gn.nn.LSTM(3, 4, bidirectional=True, dtype="float64")
        out, (_, c) = lstm(x)
        return gn.sum(out * out) + gn.sum(c)

    assert gn.check_grad(f, RNG.standard_normal((2, 3, 3)), tol=1e-6).errors


@pytest.mark.parametrize("kind,layers,bi", CONFIGS)
def test_matches_torch_forward_and_gradients(kind: str, layers: int, bi: bool) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    torch.manual_seed(0)
    tm = getattr(torch.nn, kind)(6, H, num_layers=layers, bidirectional=bi, batch_first=True)
    g, m, fn = _build(kind, 6, layers, bi, "float32")
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    for p in m.params:  # same names and layout as PyTorch's state_dict
        g.storage.values[p.name][...] = sd[p.name.rsplit("/", 1)[1]]
    X = RNG.standard_normal((3, 7, 6)).astype("float32")
    out = fn(x=X)
    to, ts = tm(torch.tensor(X))
    ts = ts if isinstance(ts, tuple) else (ts,)
    loss = (to * to).sum() + sum((s * s).sum() for s in ts)
    loss.backward()
    np.testing.assert_allclose(out["out"], to.detach().numpy(), rtol=1e-5, atol=1e-5)
    for i, s in enumerate(ts):
        np.testing.assert_allclose(out[f"s{i}"], s.detach().numpy(), rtol=1e-5, atol=1e-5)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(out[f"g:{name}"], p.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_wrong_input_is_a_shape_error() -> None:
    with gn.Graph("rec"):
        lstm = gn.nn.LSTM(4, 3)
        with pytest.raises(gn.ShapeError, match="5 features"):
            lstm(gn.input("x", (2, 3, 5), "float32"))
        with pytest.raises(gn.ShapeError, match="batch-first"):
            lstm(gn.input("y", (2, 4), "float32"))
