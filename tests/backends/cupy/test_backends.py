"""The backend-parametrized suite: the same training script on every available backend ("numpy", and "cupy"
where CuPy and a GPU are present -- it skips with the reason otherwise) gives the same results."""

from __future__ import annotations

import numpy as np

import graphnn as gn

from .conftest import to_host
from .test_training import _data, _mlp


def test_mlp_training_on_backend(backend: str) -> None:
    g_ref, v_ref = _mlp()
    ref = gn.compile(g_ref, outputs={"loss": v_ref["loss"]}, updates=v_ref["updates"])
    g, v = _mlp()
    fn = gn.compile(g, outputs={"loss": v["loss"]}, updates=v["updates"], backend=backend)
    X, Y = _data()
    for _ in range(4):
        np.testing.assert_allclose(to_host(fn(x=X, y=Y)["loss"]), ref(x=X, y=Y)["loss"], rtol=1e-4)
    for k in ("w1", "b1", "w2"):
        np.testing.assert_allclose(g.storage[k], g_ref.storage[k], rtol=1e-4, atol=1e-6)


def test_cnn_step_on_backend(backend: str) -> None:
    rng = np.random.default_rng(0)
    w0 = (rng.standard_normal((4, 2, 3, 3)) * 0.3).astype("float32")

    def build() -> tuple[gn.Graph, dict]:
        with gn.Graph("cnn") as g:
            x = gn.input("x", ("batch", 2, 6, 6), "float32")
            y = gn.input("y", ("batch",), "int64")
            w = gn.param("w", (4, 2, 3, 3), "float32", init=w0.copy())
            h = gn.max_pool2d(gn.relu(gn.conv2d(x, w, 1, 1)), 2)
            logits = gn.mean(h, axis=(2, 3))
            loss = gn.cross_entropy(gn.softmax(logits), y)
            (gw,) = gn.grad(loss, [w])
        return g, {"loss": loss, "updates": {w: w - gw * 0.5}}

    g_ref, v_ref = build()
    g, v = build()
    ref = gn.compile(g_ref, outputs={"loss": v_ref["loss"]}, updates=v_ref["updates"])
    fn = gn.compile(g, outputs={"loss": v["loss"]}, updates=v["updates"], backend=backend)
    X = rng.standard_normal((3, 2, 6, 6)).astype("float32")
    Y = rng.integers(0, 4, 3)
    for _ in range(3):
        np.testing.assert_allclose(to_host(fn(x=X, y=Y)["loss"]), ref(x=X, y=Y)["loss"], rtol=1e-4)
    np.testing.assert_allclose(g.storage["w"], g_ref.storage["w"], rtol=1e-4, atol=1e-6)


def test_cnn_step_on_standin(standin) -> None:
    test_cnn_step_on_backend("cupy")


def test_a_winograd_sized_convolution_on_cupy_is_named_as_the_gemm_it_runs(standin) -> None:
    """The Winograd path is host-only: on the CuPy backend (here its stand-in) a 32->32 3x3 layer runs the GEMM
    kernels, fused epilogue included, and fn.profile names that, not Winograd; values equal the NumPy backend's."""
    rng = np.random.default_rng(1)
    w0 = (rng.standard_normal((32, 32, 3, 3)) / 17).astype("float32")
    with gn.Graph("block") as g:
        x = gn.input("x", ("batch", 32, 16, 16), "float32")
        w = gn.param("w", w0.shape, "float32", init=w0)
        b = gn.param("b", (32,), "float32", init=rng.standard_normal(32).astype("float32"))
        y = gn.max_pool2d(gn.relu(gn.conv2d(x, w, padding=1) + gn.reshape(b, (1, -1, 1, 1))), 2)
    xs = rng.standard_normal((2, 32, 16, 16)).astype("float32")
    on_gpu = gn.compile(g, outputs={"y": y}, backend="cupy")
    text = on_gpu.profile({"x": xs}).table()
    assert "conv2d_bias_act" in text and "2x2 max pool after it" in text and "Winograd" not in text, text
    np.testing.assert_allclose(to_host(on_gpu(x=xs)["y"]), gn.compile(g, outputs={"y": y})(x=xs)["y"],
                               rtol=1e-5, atol=1e-5)
