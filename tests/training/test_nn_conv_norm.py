"""Conv2d, MaxPool2d, BatchNorm, LayerNorm and Dropout layers: train/eval behaviour against plain NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn import nn

RNG = np.random.default_rng(11)


def np_conv(x, w, b, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out + b.reshape(1, -1, 1, 1)


def test_conv2d_layer_matches_numpy_and_names() -> None:
    x_np = RNG.normal(size=(2, 3, 7, 7))
    with gn.Graph("c") as g:
        x = gn.input("x", (None, 3, 7, 7), "float64")
        conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype="float64")
        y = conv(x)
    assert y.shape[1:] == (4, 4, 4)
    assert [p.name for p in conv.params] == ["conv2d/w", "conv2d/b"]
    w, b = g.storage["conv2d/w"], g.storage["conv2d/b"]
    b[...] = RNG.normal(size=b.shape)
    out = gn.compile(g, outputs={"y": y})(x=x_np)["y"]
    np.testing.assert_allclose(out, np_conv(x_np, w, b.ravel(), 2, 1), rtol=1e-10, atol=1e-12)


def test_conv2d_rejects_wrong_channels() -> None:
    with gn.Graph("c"):
        x = gn.input("x", (None, 3, 5, 5))
        with pytest.raises(gn.ShapeError, match="3 channels"):
            nn.Conv2d(2, 4, 3)(x)


def test_maxpool_layer() -> None:
    x_np = RNG.normal(size=(2, 3, 4, 4)).astype(np.float32)
    with gn.Graph("p") as g:
        y = nn.MaxPool2d(2)(gn.input("x", (None, 3, 4, 4)))
    out = gn.compile(g, outputs={"y": y})(x=x_np)["y"]
    np.testing.assert_array_equal(out, x_np.reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5)))


def test_batchnorm_train_updates_running_stats_eval_uses_them() -> None:
    x_np = RNG.normal(loc=3.0, scale=2.0, size=(16, 5))
    with gn.Graph("bn") as g:
        x = gn.input("x", (None, 5), "float64")
        bn = nn.BatchNorm1d(5, momentum=0.1, dtype="float64")
        y = bn(x)
    ups = nn.state_updates(g)
    assert set(ups) == {"batch_norm1d/running_mean", "batch_norm1d/running_var"}
    train = gn.compile(g, outputs={"y": y}, updates=ups, mode="train")
    out = train(x=x_np)["y"]
    mu, var = x_np.mean(0), x_np.var(0)
    np.testing.assert_allclose(out, (x_np - mu) / np.sqrt(var + 1e-5), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g.storage["batch_norm1d/running_mean"], 0.1 * mu, rtol=1e-12)
    np.testing.assert_allclose(g.storage["batch_norm1d/running_var"], 0.9 + 0.1 * x_np.var(0, ddof=1), rtol=1e-12)
    ev = gn.compile(g, outputs={"y": y}, mode="eval")(x=x_np)["y"]
    rm, rv = g.storage["batch_norm1d/running_mean"], g.storage["batch_norm1d/running_var"]
    np.testing.assert_allclose(ev, (x_np - rm) / np.sqrt(rv + 1e-5), rtol=1e-9)


def test_frozen_batchnorm_keeps_its_statistics() -> None:
    with gn.Graph("bn") as g:
        x = gn.input("x", (None, 2, 3, 3))
        nn.BatchNorm2d(2, trainable=False)(x)
    assert nn.state_updates(g) == {} and g.trainable_params == []


def test_layernorm_layer() -> None:
    x_np = RNG.normal(size=(4, 3, 6))
    with gn.Graph("ln") as g:
        ln = nn.LayerNorm((3, 6), dtype="float64")
        y = ln(gn.input("x", (None, 3, 6), "float64"))
    g.storage["layer_norm/gamma"][...] = 2.0
    out = gn.compile(g, outputs={"y": y})(x=x_np)["y"]
    mu = x_np.mean(axis=(1, 2), keepdims=True)
    var = x_np.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, 2.0 * (x_np - mu) / np.sqrt(var + 1e-5), rtol=1e-9)


def test_dropout_layer_train_vs_eval() -> None:
    x_np = np.ones((200, 50), np.float32)
    with gn.Graph("d") as g:
        y = nn.Dropout(0.4)(gn.input("x", (None, 50)))
    train = gn.compile(g, outputs={"y": y}, mode="train")(x=x_np)["y"]
    kept = train != 0
    assert abs(kept.mean() - 0.6) < 0.02
    np.testing.assert_allclose(train[kept], 1 / 0.6, rtol=1e-6)  # inverted dropout
    np.testing.assert_array_equal(gn.compile(g, outputs={"y": y}, mode="eval")(x=x_np)["y"], x_np)
