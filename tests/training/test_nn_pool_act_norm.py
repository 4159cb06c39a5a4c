"""gn.nn pooling, resampling, activation and group/instance-norm layers against their PyTorch counterparts:
forward and gradients (input and parameters) within 1e-5, in float64 so the tolerance measures the method."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

torch = pytest.importorskip("torch", reason="the layers are specified as PyTorch's")
nn = torch.nn

LAYERS = {  # name: (graphnn layer factory, torch module factory, input shape)
    "MaxPool2d": (lambda: gn.nn.MaxPool2d(3, 2, 1, dilation=1, ceil_mode=True),
                  lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 3, 9, 8)),
    "MaxPool2d_dilated": (lambda: gn.nn.MaxPool2d(2, 1, 1, dilation=2), lambda: nn.MaxPool2d(2, 1, 1, dilation=2),
                          (2, 3, 7, 6)),
    "MaxPool1d": (lambda: gn.nn.MaxPool1d(3, 2, 1, ceil_mode=True), lambda: nn.MaxPool1d(3, 2, 1, ceil_mode=True),
                  (2, 3, 10)),
    "AvgPool2d": (lambda: gn.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
                  lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 8, 9)),
    "AdaptiveAvgPool2d": (lambda: gn.nn.AdaptiveAvgPool2d((3, 5)), lambda: nn.AdaptiveAvgPool2d((3, 5)), (2, 3, 7, 9)),
    "GlobalAvgPool2d": (gn.nn.GlobalAvgPool2d, lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 4)),
    "Upsample_nearest": (lambda: gn.nn.Upsample(scale_factor=2), lambda: nn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    "Upsample_bilinear": (lambda: gn.nn.Upsample((7, 9), mode="bilinear", align_corners=False),
                          lambda: nn.Upsample((7, 9), mode="bilinear", align_corners=False), (2, 3, 4, 5)),
    "GroupNorm": (lambda: gn.nn.GroupNorm(2, 6), lambda: nn.GroupNorm(2, 6), (3, 6, 4, 5)),
    "InstanceNorm2d": (lambda: gn.nn.InstanceNorm2d(3), lambda: nn.InstanceNorm2d(3), (2, 3, 4, 5)),
    "InstanceNorm2d_affine": (lambda: gn.nn.InstanceNorm2d(3, affine=True), lambda: nn.InstanceNorm2d(3, affine=True),
                              (2, 3, 4, 5)),
    "ReLU6": (gn.nn.ReLU6, nn.ReLU6, (4, 7)),
    "Hardswish": (gn.nn.Hardswish, nn.Hardswish, (4, 7)),
    "Hardsigmoid": (gn.nn.Hardsigmoid, nn.Hardsigmoid, (4, 7)),
    "ELU": (lambda: gn.nn.ELU(0.5), lambda: nn.ELU(0.5), (4, 7)),
    "SELU": (gn.nn.SELU, nn.SELU, (4, 7)),
    "SiLU": (gn.nn.SiLU, nn.SiLU, (4, 7)),
    "Mish": (gn.nn.Mish, nn.Mish, (4, 7)),
    "GELU": (gn.nn.GELU, nn.GELU, (4, 7)),
    "GELU_tanh": (lambda: gn.nn.GELU("tanh"), lambda: nn.GELU("tanh"), (4, 7)),
    "Softsign": (gn.nn.Softsign, nn.Softsign, (4, 7)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_torch(name):
    make, make_t, shape = LAYERS[name]
    rng = np.random.default_rng(0)
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.05 - np.prod(shape) * 0.025 + 0.013  # distinct: no ties
    tm = make_t().double()
    with gn.Graph() as g:
        xv = gn.input("x", shape, "float64")
        layer = make()
        y = layer(xv)
        r = rng.normal(size=tuple(y.shape))
        params = list(getattr(layer, "params", []))
        grads = gn.grad(gn.sum(y * gn.constant(r)), [xv, *params])
    # copy the (deterministically initialized) graphnn parameters into torch, in the same order
    tparams = list(tm.parameters())
    assert len(tparams) == len(params), name
    fn = gn.compile(g, outputs={"y": y, **{f"g{i}": v for i, v in enumerate(grads)}})
    for p, tp in zip(params, tparams):
        with torch.no_grad():
            tp.copy_(torch.tensor(np.asarray(g.storage[p.name]).reshape(tuple(tp.shape))))
    out = fn(x=x)
    xt = torch.tensor(x, requires_grad=True)
    yt = tm(xt)
    (yt * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(out["y"], yt.detach().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["g0"], xt.grad.numpy(), rtol=1e-5, atol=1e-7)
    for i, tp in enumerate(tparams, start=1):
        np.testing.assert_allclose(out[f"g{i}"].reshape(tuple(tp.shape)), tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_group_norm_rejects_groups_that_do_not_divide_channels():
    with pytest.raises(gn.ShapeError, match="do not divide"):
        gn.nn.GroupNorm(4, 6)
    with gn.Graph(), pytest.raises(gn.ShapeError, match="do not divide"):
        from graphnn.ir.ops.norm import group_norm

        group_norm(gn.input("x", (None, 6, 3, 3)), 4)
