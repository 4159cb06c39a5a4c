"""The speed paths of the CNN kernels keep their values: max pooling without the argmax in plans that have no
pooling gradient (inference), against explicit window loops, and the BLAS thread count restored after a conv
kernel pinned it (through OpenBLAS's non-waking setter where there is one)."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.numpy import conv_gemm
from graphnn.backends.numpy.conv import algorithm as conv_algorithm
from graphnn.backends.numpy.pool import MaxPool
from graphnn.ir.ops import conv as conv_ops

POOLS = [  # x shape, kernel, stride, padding (top, left, bottom, right), dilation, ceil_mode
    ((1, 1, 5, 7), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False),  # batch 1, odd sizes (last row/col dropped)
    ((2, 3, 7, 8), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),  # padding (-inf) and ceil mode
    ((2, 2, 9, 9), (2, 3), (2, 1), (1, 0, 0, 1), (2, 1), False),  # dilation, asymmetric pads
    ((3, 2, 6, 5), (3, 2), (1, 1), (0, 0, 0, 0), (1, 1), False),  # overlapping windows
]


def loop_max_pool(x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple, ho: int, wo: int) -> np.ndarray:
    """Max over each window, written as loops over output pixels; positions outside x never win."""
    n, c, h, w = x.shape
    y = np.full((n, c, ho, wo), -np.inf, x.dtype)
    for i in range(ho):
        for j in range(wo):
            for a in range(k[0]):
                for b in range(k[1]):
                    r, q = i * s[0] + a * d[0] - p[0], j * s[1] + b * d[1] - p[1]
                    if 0 <= r < h and 0 <= q < w:
                        y[:, :, i, j] = np.maximum(y[:, :, i, j], x[:, :, r, q])
    return y


@pytest.mark.parametrize("xs,k,s,p,d,ceil", POOLS)
def test_inference_max_pool_matches_window_loops_and_the_training_plan(xs, k, s, p, d, ceil) -> None:
    x = np.round(np.random.default_rng(0).normal(size=xs), 1).astype("float32")  # ties included
    with gn.Graph() as g:
        xv = gn.input("x", (None,) + xs[1:], "float32")
        y = gn.max_pool2d(xv, k, s, p, d, ceil)
        (gx,) = gn.grad(gn.sum(y * y), [xv])
    infer = gn.compile(g, outputs={"y": y})(x=x)["y"]  # no max_pool2d_grad in the plan: maxima only
    train = gn.compile(g, outputs={"y": y, "gx": gx})(x=x)  # the argmax path
    np.testing.assert_array_equal(infer, loop_max_pool(x, k, s, p, d, *infer.shape[2:]))
    np.testing.assert_array_equal(train["y"], infer)
    assert np.isfinite(infer).all()


def test_inference_plan_skips_the_argmax_and_training_plan_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 6)).astype("float32")
    with gn.Graph() as g:
        xv = gn.input("x", x.shape, "float32")
        y = gn.max_pool2d(xv, 2)
        (gx,) = gn.grad(gn.sum(y), [xv])
    seen: list[bool] = []
    real = MaxPool.__call__
    monkeypatch.setattr(MaxPool, "__call__", lambda self, a, b: (seen.append(self.wanted), real(self, a, b))[1])
    gn.compile(g, outputs={"y": y})(x=x)
    gn.compile(g, outputs={"y": y, "gx": gx})(x=x)
    assert seen == [False, True]


def ref_conv(x: np.ndarray, w: np.ndarray, pad: int) -> np.ndarray:
    """Stride-1 convolution as a sum over kernel offsets of shifted windows (plain NumPy, float64)."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    ho, wo = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    return sum(np.einsum("nchw,oc->nohw", xp[:, :, a:a + ho, b:b + wo], w[:, :, a, b].astype(np.float64))
               for a in range(kh) for b in range(kw))


def test_conv_kernel_restores_the_blas_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="thread counts are read through threadpoolctl")
    libs = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not libs.lib_controllers:
        pytest.skip("no BLAS library visible to threadpoolctl")
    x = np.random.default_rng(2).normal(size=(6, 4, 9, 9)).astype("float32")
    w = np.random.default_rng(3).normal(size=(5, 4, 3, 3)).astype("float32")
    with gn.Graph() as g:
        y = gn.conv2d(gn.input("x", x.shape, "float32"), gn.constant(w), padding=1)
    fn = gn.compile(g, outputs={"y": y})
    monkeypatch.setattr(conv_gemm, "CACHE_BYTES", 4 * 36 * 99 * 2)  # blocks of 2 samples: the pinned path
    for k in (2, 1):
        with threadpoolctl.threadpool_limits(k, user_api="blas"):
            before = [c.get_num_threads() for c in libs.lib_controllers]
            out = fn(x=x)["y"]
            assert [c.get_num_threads() for c in libs.lib_controllers] == before
        np.testing.assert_allclose(out, ref_conv(x, w, 1), rtol=1e-4, atol=1e-4)
    openblas = [c for c in libs.lib_controllers if c.internal_api == "openblas" and c.threading_layer == "pthreads"]
    if openblas and tuple(int(p) for p in openblas[0].version.split(".")[:3]) >= (0, 3, 27):  # the release that added openblas_set_num_threads_local
        assert conv_gemm.quiet_setter(openblas[0]) is not None


def _conv_dense_step() -> tuple[gn.Graph, dict, dict]:
    """conv -> relu -> dense -> cross-entropy, with the conv and dense weights' SGD updates: a dense GEMM sits
    between the forward conv and the backward convs (inside the plan's BLAS pin)."""
    with gn.Graph() as g:
        x = gn.input("x", (None, 3, 8, 8), "float32")
        y = gn.input("y", (None,), "int64")
        h = gn.relu(gn.nn.Conv2d(3, 4, 3, padding=1)(x))
        logits = gn.nn.Linear(4 * 8 * 8, 5)(gn.reshape(h, (-1, 4 * 8 * 8)))
        loss = gn.cross_entropy(gn.softmax(logits), y)
        ps = list(g.params)
        ups = {p: p - 0.1 * d for p, d in zip(ps, gn.grad(loss, ps))}
    return g, {"loss": loss}, ups


def test_a_plans_blas_pin_is_released_after_the_run_and_after_a_failed_run(monkeypatch: pytest.MonkeyPatch) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="thread counts are read through threadpoolctl")
    libs = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not libs.lib_controllers:
        pytest.skip("no BLAS library visible to threadpoolctl")
    monkeypatch.setattr(conv_gemm, "CACHE_BYTES", 4 * 27 * 80 * 2)  # blocks of 2 samples
    g, outs, ups = _conv_dense_step()
    fn = gn.compile(g, outs, ups)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 3, 8, 8)).astype("float32"), rng.integers(0, 5, 6)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = [c.get_num_threads() for c in libs.lib_controllers]
        loss = float(fn(x=x, y=y)["loss"])
        assert [c.get_num_threads() for c in libs.lib_controllers] == before
        with pytest.raises(gn.FeedError):
            fn(x=x, y=np.full(6, 7))  # labels out of range: raised by a kernel between the convs
        assert [c.get_num_threads() for c in libs.lib_controllers] == before  # restored before the error left
        with pytest.raises(gn.FeedError):  # the observable path (fn.profile, check_numerics) alike
            fn.profile({"x": x, "y": np.full(6, 7)}, repeat=1)
        assert [c.get_num_threads() for c in libs.lib_controllers] == before
        assert np.isfinite(float(fn(x=x, y=y)["loss"])) and np.isfinite(loss)
        assert [c.get_num_threads() for c in libs.lib_controllers] == before


@pytest.mark.parametrize("batch", [5, 1])  # 5: one sample per worker's block; 1: one block
@pytest.mark.parametrize("stride,pad,groups,k", [(1, 1, 1, 3), (2, 1, 1, 3), (1, 0, 2, 1), (1, 2, 2, 5)])
def test_planned_conv_kernels_on_two_workers_match_torch(monkeypatch: pytest.MonkeyPatch, stride, pad, groups, k,
                                                          batch) -> None:
    torch = pytest.importorskip("torch", reason="torch is the reference convolution")
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="the workers follow BLAS's thread count")
    monkeypatch.setattr(conv_gemm, "CACHE_BYTES", 1)  # one sample per block: blocks on both workers
    rng = np.random.default_rng(5)
    x = rng.normal(size=(batch, 4, 9, 7)).astype("float32")  # odd sizes
    w = rng.normal(size=(6, 4 // groups, k, k)).astype("float32")
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, stride=stride, padding=pad, groups=groups)
    r = rng.normal(size=tuple(yt.shape)).astype("float32")
    (yt * torch.tensor(r)).sum().backward()
    with gn.Graph() as g:
        xv, wv = gn.input("x", x.shape, "float32"), gn.input("w", w.shape, "float32")
        y = gn.conv2d(xv, wv, stride=stride, padding=pad, groups=groups)
        gx, gw = gn.grad(gn.sum(y * gn.constant(r)), [xv, wv])
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        out = gn.compile(g, outputs={"y": y, "gx": gx, "gw": gw})(x=x, w=w)
    np.testing.assert_allclose(out["y"], yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["gx"], xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["gw"], wt.grad.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("xs,o,stride,pad,groups", [((3, 4, 3, 3), 16, 1, 1, 1), ((2, 4, 4, 5), 12, 2, 1, 2),
                                                      ((1, 6, 2, 2), 8, 1, 0, 1)])
def test_weight_grad_of_small_maps_sums_samples_in_one_gemm(monkeypatch: pytest.MonkeyPatch, xs, o, stride, pad,
                                                             groups) -> None:
    torch = pytest.importorskip("torch", reason="torch is the reference convolution")
    monkeypatch.setattr(conv_gemm, "CACHE_BYTES", 4 * 200)  # a few samples per block, several blocks
    rng = np.random.default_rng(6)
    x = rng.normal(size=xs)
    w = rng.normal(size=(o, xs[1] // groups, 3 if pad else 1, 3 if pad else 1))
    k = w.shape[2]
    ho, wo = ((xs[2] + 2 * pad - k) // stride + 1), ((xs[3] + 2 * pad - k) // stride + 1)
    r = rng.normal(size=(xs[0], o, ho, wo))
    with gn.Graph() as g:
        xv, gyv = gn.input("x", xs, "float64"), gn.input("gy", r.shape, "float64")
        gw = conv_ops.conv2d_weight_grad(xv, gyv, (k, k), stride, pad, 1, groups)
    node = next(n for n in g.nodes if n.op == "conv2d_weight_grad")
    assert "one (K, N*L)" in conv_algorithm(node)  # the path under test
    got = gn.compile(g, outputs={"gw": gw})(x=x, gy=r)["gw"]
    wt = torch.tensor(w, requires_grad=True)
    (torch.nn.functional.conv2d(torch.tensor(x), wt, stride=stride, padding=pad, groups=groups)
     * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(got, wt.grad.numpy(), rtol=1e-10, atol=1e-10)
    gn.check_grad(lambda w_: gn.conv2d(gn.constant(x), w_, stride=stride, padding=pad, groups=groups), w, tol=1e-6)


@pytest.mark.parametrize("xs,o,stride,pad,groups", [((5, 4, 3, 3), 6, 1, 1, 1), ((3, 4, 4, 5), 6, 2, 1, 2),
                                                      ((1, 3, 2, 3), 4, 1, 2, 1)])
def test_small_maps_share_one_forward_gemm_per_block(monkeypatch: pytest.MonkeyPatch, xs, o, stride, pad,
                                                      groups) -> None:
    torch = pytest.importorskip("torch", reason="torch is the reference convolution")
    monkeypatch.setattr(conv_gemm, "CACHE_BYTES", 4 * 300)  # a few samples per block, several blocks
    rng = np.random.default_rng(7)
    x = rng.normal(size=xs)
    w = rng.normal(size=(o, xs[1] // groups, 3, 3))
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w)
    yt = torch.nn.functional.conv2d(xt, wt, stride=stride, padding=pad, groups=groups)
    r = rng.normal(size=tuple(yt.shape))
    (yt * torch.tensor(r)).sum().backward()
    with gn.Graph() as g:
        xv, gyv = gn.input("x", xs, "float64"), gn.input("gy", r.shape, "float64")
        y = gn.conv2d(xv, gn.constant(w), stride=stride, padding=pad, groups=groups)
        gx = conv_ops.conv2d_input_grad(gyv, gn.constant(w), xs[2:], stride, pad, 1, groups)
    fwd = next(n for n in g.nodes if n.op == "conv2d")
    assert "one GEMM per block" in conv_algorithm(fwd)  # the path under test
    out = gn.compile(g, outputs={"y": y, "gx": gx})(x=x, gy=r)
    np.testing.assert_allclose(out["y"], yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out["gx"], xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    gn.check_grad(lambda x_: gn.conv2d(x_, gn.constant(w), stride=stride, padding=pad, groups=groups), x, tol=1e-6)
