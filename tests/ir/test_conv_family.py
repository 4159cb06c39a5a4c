"""The convolution family beyond the basic conv2d (issue 15): groups, dilation, 4-sided padding, conv1d and the
transposed convolution against PyTorch (forward and gradients), and bad geometry refused at build time."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

torch = pytest.importorskip("torch", reason="PyTorch is the reference for these tests")
F = torch.nn.functional


def _run(build, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """y = build(*inputs) and the gradients of sum(y * r) for a fixed random r, in float64."""
    with gn.Graph("t") as g:
        ins = [gn.input(f"i{k}", a.shape, "float64") for k, a in enumerate(arrays)]
        y = build(*ins)
        r = gn.constant(np.random.default_rng(9).standard_normal(tuple(y.shape)))
        grads = gn.grad(gn.sum(y * r), ins)
    fn = gn.compile(g, outputs={"y": y, **{f"g{k}": v for k, v in enumerate(grads)}})
    out = fn(**{f"i{k}": a for k, a in enumerate(arrays)})
    return [out["y"]] + [out[f"g{k}"] for k in range(len(arrays))]


def _torch(fn, arrays: list[np.ndarray]) -> list[np.ndarray]:
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    r = torch.tensor(np.random.default_rng(9).standard_normal(tuple(y.shape)))
    (y * r).sum().backward()
    return [y.detach().numpy()] + [t.grad.numpy() for t in ts]


def _close(ours: list[np.ndarray], theirs: list[np.ndarray]) -> None:
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape, (k, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9, err_msg=f"output {k}")


CONV2D = [  # x shape, w shape, stride, padding (torch form), dilation, groups
    ((2, 4, 9, 8), (6, 2, 3, 3), 1, 1, 1, 2),
    ((1, 6, 7, 7), (6, 1, 3, 3), 2, 1, 1, 6),  # depthwise, batch 1
    ((3, 3, 11, 10), (4, 3, 3, 2), (2, 1), (2, 1), (2, 3), 1),
    ((2, 8, 5, 5), (4, 2, 1, 1), 1, 0, 1, 4),  # grouped 1x1
    ((2, 3, 8, 8), (5, 3, 5, 5), 3, 2, 1, 1),
]


@pytest.mark.parametrize("xs,ws,s,p,d,g", CONV2D)
def test_conv2d_groups_dilation_match_torch(xs, ws, s, p, d, g) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)]
    ours = _run(lambda x, w: gn.conv2d(x, w, s, p, d, g), arrays)
    _close(ours, _torch(lambda x, w: F.conv2d(x, w, None, s, p, d, g), arrays))


def test_conv2d_asymmetric_padding_matches_torch_on_a_padded_input() -> None:
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 3, 3))]
    ours = _run(lambda x, w: gn.conv2d(x, w, 2, (0, 2, 1, 1)), arrays)  # top, left, bottom, right
    _close(ours, _torch(lambda x, w: F.conv2d(F.pad(x, (2, 1, 0, 1)), w, None, 2), arrays))


@pytest.mark.parametrize("s,p,d,g", [(1, 0, 1, 1), (2, 3, 2, 3), (3, 1, 1, 1)])
def test_conv1d_matches_torch(s, p, d, g) -> None:
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((2, 6, 17)), rng.standard_normal((9, 6 // g, 4))]
    ours = _run(lambda x, w: gn.conv1d(x, w, s, p, d, g), arrays)
    _close(ours, _torch(lambda x, w: F.conv1d(x, w, None, s, p, d, g), arrays))


CONVT = [  # x shape, w shape, stride, padding, output_padding, groups, dilation
    ((2, 4, 5, 4), (4, 3, 3, 3), 2, 1, 1, 1, 1),
    ((1, 4, 3, 5), (4, 2, 3, 2), (2, 3), (1, 0), (1, 2), 2, 1),
    ((2, 3, 4, 4), (3, 2, 3, 3), 1, 0, 0, 1, 2),
    ((2, 2, 3, 3), (2, 1, 4, 4), 2, 1, 0, 2, 1),  # depthwise, the U-Net upsampling kernel
]


@pytest.mark.parametrize("xs,ws,s,p,op,g,d", CONVT)
def test_conv_transpose2d_matches_torch(xs, ws, s, p, op, g, d) -> None:
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)]
    ours = _run(lambda x, w: gn.conv_transpose2d(x, w, s, p, op, g, d), arrays)
    _close(ours, _torch(lambda x, w: F.conv_transpose2d(x, w, None, s, p, op, g, d), arrays))


def test_layers_match_torch_modules_with_copied_weights() -> None:
    torch.manual_seed(0)
    pairs = [(gn.nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2), torch.nn.Conv2d(4, 6, 3, padding=2,
                                                                                        dilation=2, groups=2)),
             (gn.nn.Conv1d(4, 4, 3, stride=2, groups=4, bias=False), torch.nn.Conv1d(4, 4, 3, 2, groups=4, bias=False)),
             (gn.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
              torch.nn.ConvTranspose2d(4, 6, 3, 2, 1, 1, groups=2))]
    for ours, theirs in pairs:
        shape = (2, 4, 7) if isinstance(ours, gn.nn.Conv1d) else (2, 4, 7, 6)
        x = np.random.default_rng(4).standard_normal(shape).astype("float32")
        with gn.Graph("layer") as g:
            y = ours(gn.input("x", (None, *shape[1:]), "float32"))
        ours.weight.graph.storage[ours.weight.name] = theirs.weight.detach().numpy().copy()
        if ours.b is not None:
            ours.b.graph.storage[ours.b.name] = theirs.bias.detach().numpy().reshape(ours.b.shape).copy()
        got = gn.compile(g, outputs={"y": y})(x=x)["y"]
        want = theirs(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_bad_geometry_is_a_shape_error_at_the_users_line() -> None:
    with gn.Graph("bad"):
        x = gn.input("x", (None, 6, 5, 5), "float32")
        with pytest.raises(gn.ShapeError, match=r"(?s)groups=4 does not divide the input channels \(6\).*at: .*test_conv_family.py"):
            gn.conv2d(x, gn.input("w", (8, 2, 3, 3), "float32"), groups=4)
        with pytest.raises(gn.ShapeError, match="groups=4 does not divide the output channels"):
            gn.conv2d(gn.input("x8", (1, 8, 5, 5), "float32"), gn.input("w6", (6, 2, 3, 3), "float32"), groups=4)
        with pytest.raises(gn.ShapeError, match=r"kernel 3 \(dilated to 7\) is larger than the padded input 5"):
            gn.conv2d(x, gn.input("w3", (2, 6, 3, 3), "float32"), dilation=3, padding=(0, 1))
        with pytest.raises(gn.ShapeError, match=r"output_padding \(2, 0\) must be >= 0 and smaller than stride 2"):
            gn.conv_transpose2d(x, gn.input("wt", (6, 2, 3, 3), "float32"), 2, 1, (2, 0))
        with pytest.raises(gn.ShapeError, match="does not fit"):
            gn.conv_transpose2d(gn.input("x1", (1, 6, 1, 1), "float32"), gn.input("wt1", (6, 2, 1, 1), "float32"),
                                1, 1)
        with pytest.raises(gn.ShapeError, match="groups=4 does not divide out_channels=6"):
            gn.nn.Conv2d(8, 6, 3, groups=4)
        n_nodes = len(gn.Graph.current().nodes)
        with pytest.raises(gn.ShapeError, match="groups=4 does not divide the 6 input channels"):
            gn.nn.Conv2d(None, 8, 3, groups=4)(x)
        assert len(gn.Graph.current().nodes) == n_nodes
