"""The dispatch to the Winograd F(2x2, 3x3) path (issue 16): whole compiled graphs with a VGG-like 3x3 layer
train the same on the compiled (numba) and the plain NumPy kernel path, and as PyTorch does; `algorithm(node,
env)` (fn.profile, the viewer) names Winograd exactly where it runs, GEMM where it does not."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import graphnn as gn
from graphnn.backends import compiled
from graphnn.backends.numpy.conv import algorithm
from graphnn.ir.ops import conv as c

from .test_conv_winograd import WINOGRAD_WORDS, CallSpy


# ---- the dispatch: compiled graphs on both kernel paths ------------------------------------------------------
def _vgg_params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(12)
    shapes = {"w1": (32, 3, 3, 3), "b1": (32,), "w2": (32, 32, 3, 3), "b2": (32,), "w3": (16, 32, 3, 3), "wd": (16, 10)}
    fan = {"w1": 27, "b1": 100, "w2": 288, "b2": 100, "w3": 288, "wd": 16}
    return {k: (rng.standard_normal(s) * np.sqrt(2 / fan[k])).astype(np.float32) for k, s in shapes.items()}


def _vgg(p: dict[str, np.ndarray]) -> tuple[gn.Graph, gn.Value]:
    """3 -> 32 (GEMM: 3 input channels), 32 -> 32 (Winograd, and its input gradient), 32 -> 16 (Winograd; its
    input gradient has 16 channels of gy: GEMM) 3x3 convolutions on 8x8 maps, then mean and a dense layer."""
    with gn.Graph("vgg") as g:
        x, labels = gn.input("x", (None, 3, 8, 8), "float32"), gn.input("y", (None,), "int64")
        v = {k: gn.param(k, a.shape, init=a) for k, a in p.items()}
        h = gn.relu(gn.conv2d(x, v["w1"], 1, 1) + gn.reshape(v["b1"], (1, 32, 1, 1)))
        h = gn.relu(gn.conv2d(h, v["w2"], 1, 1) + gn.reshape(v["b2"], (1, 32, 1, 1)))
        h = gn.conv2d(h, v["w3"], 1, 1)
        loss = gn.softmax_cross_entropy(gn.mean(h, axis=(2, 3)) @ v["wd"], labels)
    return g, loss


def _train(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, steps: int) -> tuple[list[dict], dict]:
    """Per SGD(0.1) step the loss and gradients, and the parameters after the last step, from graphnn."""
    g, loss = _vgg(p)
    with g:
        grads = gn.grad(loss, g.params)
    fn = gn.compile(g, outputs={"loss": loss, **{f"d{v.name}": gv for v, gv in zip(g.params, grads)}},
                    updates=gn.optim.SGD(0.1).updates(loss, g.params))
    outs = [{k: np.array(a) for k, a in fn(x=x, y=y).items()} for _ in range(steps)]
    return outs, {v.name: np.array(g.storage[v.name]) for v in g.params}


def _vgg_data(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Batch 40 of 8x8 maps: 640 tiles per call, three blocks of samples (the plan's workers share them)."""
    rng = np.random.default_rng(13)
    return rng.standard_normal((n, 3, 8, 8)).astype(np.float32), rng.integers(0, 10, n)


def _close(got: dict, want: dict) -> None:
    for k, a in want.items():
        np.testing.assert_allclose(got[k], a, rtol=2e-4, atol=2e-5 * float(np.abs(a).max()), err_msg=k)


def test_training_steps_match_pytorch(kernel_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two SGD steps (the second forward must see the kernel the first step changed in place) on each kernel
    path against PyTorch in float64."""
    pytest.importorskip("torch", reason="torch is not installed: test_numba_and_plain_paths_agree covers the path")
    import torch  # here: optional: torch is only needed by this test

    spy = CallSpy(monkeypatch)
    p, (x, y) = _vgg_params(), _vgg_data()
    outs, final = _train(p, x, y, 2)
    assert spy.seen == (Counter({(32, 32): 4, (32, 16): 2}) if kernel_path == "numba" else Counter())
    t = {k: torch.tensor(a, dtype=torch.float64, requires_grad=True) for k, a in p.items()}
    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y)
    F = torch.nn.functional
    for out in outs:
        h = F.relu(F.conv2d(xt, t["w1"], t["b1"], padding=1))
        h = F.conv2d(F.relu(F.conv2d(h, t["w2"], t["b2"], padding=1)), t["w3"], padding=1)
        loss = F.cross_entropy(h.mean(dim=(2, 3)) @ t["wd"], yt)
        gs = torch.autograd.grad(loss, list(t.values()))
        _close(out, {"loss": loss.detach().numpy(), **{f"d{k}": gv.numpy() for k, gv in zip(t, gs)}})
        with torch.no_grad():
            for k, gv in zip(t, gs):
                t[k] -= 0.1 * gv
    _close(final, {k: v.detach().numpy() for k, v in t.items()})


def test_numba_and_plain_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    if compiled.kernels("winograd") is None:
        pytest.skip("numba is not installed (extra `fast`) or GRAPHNN_NO_NUMBA is set")
    spy = CallSpy(monkeypatch)
    p, (x, y) = _vgg_params(), _vgg_data()
    fast, fast_final = _train(p, x, y, 2)
    assert sum(spy.seen.values()) == 6
    monkeypatch.setenv("GRAPHNN_NO_NUMBA", "1")
    plain, plain_final = _train(p, x, y, 2)
    assert sum(spy.seen.values()) == 6  # no Winograd call without numba
    for a, b in zip(fast, plain):
        _close(a, b)
    _close(fast_final, plain_final)


# ---- algorithm(node, env) says what runs --------------------------------------------------------------------
# (id, in channels, out channels, map size, pad, stride, kernel size, groups, dilation, batch, takes Winograd)
GEOMETRIES = [
    ("winograd", 32, 16, 8, 1, 1, 3, 1, 1, 4, True),  # 4 samples of 16 tiles: 64, the threshold itself
    ("48-tiles", 32, 16, 8, 1, 1, 3, 1, 1, 3, False),
    ("31-in", 31, 16, 8, 1, 1, 3, 1, 1, 4, False),
    ("15-out", 32, 15, 8, 1, 1, 3, 1, 1, 4, False),
    ("stride2", 32, 16, 16, 1, 2, 3, 1, 1, 8, False),
    ("5x5", 32, 16, 8, 2, 1, 5, 1, 1, 4, False),
    ("groups2", 64, 32, 8, 1, 1, 3, 2, 1, 4, False),
    ("dilation2", 32, 16, 8, 2, 1, 3, 1, 2, 4, False),
]


@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda geo: geo[0])
def test_algorithm_names_the_path_that_runs(kernel_path: str, monkeypatch: pytest.MonkeyPatch, geo: tuple) -> None:
    _, ci, k, size, pad, stride, ks, groups, dil, n, takes = geo
    takes = takes and kernel_path == "numba"
    rng = np.random.default_rng(14)
    with gn.Graph("one") as g:
        x = gn.input("x", (None, ci, size, size), "float32")
        w = gn.input("w", (k, ci // groups, ks, ks), "float32")
        y = gn.conv2d(x, w, stride, pad, dil, groups)
    node, batch = y.producer, g.inputs[0].shape[0]
    text = algorithm(node, {batch: n})
    assert text.startswith(WINOGRAD_WORDS) if takes else "Winograd" not in text and "GEMM" in text
    unbound = algorithm(node, {})
    assert ("Winograd" in unbound) == (geo[0] in ("winograd", "48-tiles") and kernel_path == "numba")
    assert ("from 64 tiles per call, else GEMM" in unbound) == ("Winograd" in unbound)
    spy = CallSpy(monkeypatch)
    xs, ws = rng.standard_normal((n, ci, size, size)), rng.standard_normal(w.shape) / np.sqrt(ci * ks * ks)
    fn = gn.compile(g, outputs={"y": y})
    got = fn(x=xs.astype(np.float32), w=ws.astype(np.float32))["y"]
    assert bool(spy.seen) == takes
    want = _ref_any(xs, ws, pad, stride, dil, groups)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    row = next(r for r in fn.profile({"x": xs.astype(np.float32), "w": ws.astype(np.float32)}, repeat=1).as_dicts()
               if r["op"] == "conv2d")
    assert row["algorithm"] == text


def _ref_any(x: np.ndarray, w: np.ndarray, pad: int, stride: int, dil: int, groups: int) -> np.ndarray:
    """Any-geometry conv2d in float64 from the definition (the reference of the dispatch test)."""
    kh = dil * (w.shape[2] - 1) + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (kh, kh), axis=(2, 3))[:, :, ::stride, ::stride, ::dil, ::dil]
    og, cg = w.shape[0] // groups, x.shape[1] // groups
    return np.concatenate([np.einsum("nchwab,kcab->nkhw", win[:, i * cg:(i + 1) * cg], w[i * og:(i + 1) * og])
                           for i in range(groups)], axis=1)


@pytest.mark.parametrize("n, stride, pad, takes", [
    (4, 1, 1, True), (3, 1, 1, False),
    (4, 1, 0, True),  # 16 tiles a sample over the 8x8 output, 9 over gy's 6x6: the output's count decides
    (4, 1, 3, False),  # pads beyond the kernel's reach: the flipped convolution would crop (a negative pad)
    (16, 2, 1, False)])
def test_algorithm_of_the_backward_ops(kernel_path: str, monkeypatch: pytest.MonkeyPatch, n: int, stride: int,
                                       pad: int, takes: bool) -> None:
    """The input gradient (gy with 32 channels to 16 of an 8x8 input) takes it from 64 tiles of its output;
    stride 2, a pad over 2 and the weight gradient never do."""
    takes = takes and kernel_path == "numba"
    size = 8 * stride
    ho = (size + 2 * pad - 3) // stride + 1
    with gn.Graph("back") as g:
        gy = gn.input("gy", (None, 32, ho, ho), "float32")
        w = gn.input("w", (32, 16, 3, 3), "float32")
        x = gn.input("x", (None, 16, size, size), "float32")
        gx = c.conv2d_input_grad(gy, w, (size, size), stride, pad)
        gw = c.conv2d_weight_grad(x, gy, (3, 3), stride, pad)
    env = {g.inputs[0].shape[0]: n}
    text = algorithm(gx.producer, env)
    assert text.startswith(WINOGRAD_WORDS) if takes else "Winograd" not in text
    assert "Winograd" not in algorithm(gw.producer, env) and "Winograd" not in algorithm(gw.producer, {})
    rng = np.random.default_rng(15)
    gys, ws = rng.standard_normal((n, 32, ho, ho)), rng.standard_normal((32, 16, 3, 3))
    xs = rng.standard_normal((n, 16, size, size))
    spy = CallSpy(monkeypatch)
    out = gn.compile(g, outputs={"gx": gx, "gw": gw})(gy=gys.astype(np.float32), w=ws.astype(np.float32),
                                                      x=xs.astype(np.float32))
    assert spy.seen == (Counter({(32, 16): 1}) if takes else Counter())
    # references from the definitions: gx scatters gy through w at each kernel offset; gw sums gy times windows
    gxp = np.zeros((n, 16, size + 2 * pad, size + 2 * pad))
    for a in range(3):
        for b in range(3):
            rows, cols = slice(a, a + stride * ho, stride), slice(b, b + stride * ho, stride)
            gxp[:, :, rows, cols] += np.einsum("nohw,oc->nchw", gys, ws[:, :, a, b])
    xp = np.pad(xs, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (3, 3), axis=(2, 3))[:, :, ::stride, ::stride]
    for got, want in ((out["gx"], gxp[:, :, pad:pad + size, pad:pad + size]),
                      (out["gw"], np.einsum("nchwab,nohw->ocab", win, gys))):
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max())
