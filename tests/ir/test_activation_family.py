"""The activation family (graphnn/ir/ops/activation.py): values and gradients against PyTorch, float64 finite
differences, the zero gradient of the piecewise-constant ops, integer mod, and ONNX import of each ONNX op."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import graphnn as gn
from graphnn.ir.ops import activation as A

torch = pytest.importorskip("torch", reason="torch is the reference for PyTorch's activation conventions")
F = torch.nn.functional

PAIRS = {  # name: (graphnn builder, torch function)
    "hardsigmoid": (A.hardsigmoid, F.hardsigmoid),
    "hardswish": (A.hardswish, F.hardswish),
    "elu": (lambda x: A.elu(x, 0.7), lambda t: F.elu(t, 0.7)),
    "selu": (A.selu, F.selu),
    "mish": (A.mish, F.mish),
    "softsign": (A.softsign, F.softsign),
    "relu6": (A.relu6, F.relu6),
    "clip": (lambda x: A.clip(x, -0.5, 1.5), lambda t: torch.clamp(t, -0.5, 1.5)),
    "reciprocal": (lambda x: A.reciprocal(x + 5.0), lambda t: torch.reciprocal(t + 5.0)),
    "sin": (A.sin, torch.sin),
    "cos": (A.cos, torch.cos),
    "floor": (A.floor, torch.floor),
    "ceil": (A.ceil, torch.ceil),
    "round": (A.round, torch.round),
}


def _value_and_grad(fn, x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with gn.Graph() as g:
        xv = gn.input("x", x.shape, str(x.dtype))
        y = fn(xv)
        (gx,) = gn.grad(gn.sum(y * gn.constant(r)), [xv], disconnected="zeros")
    out = gn.compile(g, outputs={"y": y, "gx": gx})(x=x)
    return out["y"], out["gx"]


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_matches_torch_forward_and_gradient(name):
    ours, theirs = PAIRS[name]
    rng = np.random.default_rng(0)
    # a wide range, including both sides of every kink; the exact kink points, and x.5 for round
    x = np.concatenate([rng.uniform(-8, 8, 200), [-3.0, 3.0, 0.0, 6.0, -0.5, 1.5, 0.5, 1.5, 2.5, -2.5]])
    x = x.astype("float32")
    r = rng.normal(size=x.shape).astype("float32")
    y, gx = _value_and_grad(ours, x, r)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    (yt * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["hardsigmoid", "hardswish", "elu", "selu", "mish", "softsign", "sin", "cos"])
def test_gradients_against_finite_differences(name):
    x = np.random.default_rng(1).uniform(-5, 5, (4, 5))
    x = x[np.abs(np.abs(x) - 3) > 1e-3]  # away from the hard kinks at +-3
    gn.check_grad(PAIRS[name][0], x, tol=1e-6)


def test_piecewise_constant_ops_have_zero_gradient_like_torch():
    x = np.array([-1.5, -0.2, 0.7, 2.5])
    for fn in (A.floor, A.ceil, A.round):
        _, gx = _value_and_grad(fn, x, np.ones(4))
        np.testing.assert_array_equal(gx, 0.0)
    np.testing.assert_array_equal(_value_and_grad(A.round, np.array([0.5, 1.5, 2.5, -0.5]), np.ones(4))[0],
                                  [0.0, 2.0, 2.0, -0.0])  # halves to even, as ONNX Round


def test_mod_and_fmod_follow_python_and_c_signs_with_gradients():
    a = np.array([5.5, -5.5, 5.5, -5.5, 0.3])
    b = np.array([2.0, 2.0, -2.0, -2.0, 0.7])
    y, _ = _value_and_grad(lambda v: A.mod(v, gn.constant(b)), a, np.ones(5))
    np.testing.assert_allclose(y, [1.5, 0.5, -0.5, -1.5, 0.3])
    y, _ = _value_and_grad(lambda v: A.fmod(v, gn.constant(b)), a, np.ones(5))
    np.testing.assert_allclose(y, [1.5, -1.5, 1.5, -1.5, 0.3])
    for op, tfn in ((A.mod, torch.remainder), (A.fmod, torch.fmod)):
        gn.check_grad(op, a, b, tol=1e-6)
        at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        tfn(at, bt).sum().backward()
        with gn.Graph() as g:
            av, bv = gn.input("a", (5,), "float64"), gn.input("b", (5,), "float64")
            ga, gb = gn.grad(gn.sum(op(av, bv)), [av, bv])
        out = gn.compile(g, outputs={"ga": ga, "gb": gb})(a=a, b=b)
        np.testing.assert_allclose(out["ga"], at.grad.numpy())
        np.testing.assert_allclose(out["gb"], bt.grad.numpy())


def test_integer_mod_and_its_onnx_export():
    with gn.Graph() as g:
        a, b = gn.input("a", (6,), "int64"), gn.input("b", (6,), "int64")
        m, f = A.mod(a, b), A.fmod(a, b)
    feeds = {"a": np.array([7, -7, 7, -7, 0, 9]), "b": np.array([3, 3, -3, -3, 5, 4])}
    out = gn.compile(g, outputs={"m": m, "f": f})(**feeds)
    np.testing.assert_array_equal(out["m"], feeds["a"] % feeds["b"])
    np.testing.assert_array_equal(out["f"], np.fmod(feeds["a"], feeds["b"]))
    # parity off: its random integer feeds would divide by zero (onnxruntime raises there; NumPy gives 0)
    back = gn.onnx.load(gn.onnx.export(g, None, outputs={"m": m, "f": f}, check_parity=False).model)
    got = gn.compile(back)(**feeds)
    np.testing.assert_array_equal(got["m"], out["m"])
    np.testing.assert_array_equal(got["f"], out["f"])


@pytest.mark.parametrize("op_type,attrs,ref", [
    ("HardSigmoid", {}, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    ("HardSwish", {}, lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    ("Elu", {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    ("Selu", {}, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    ("Mish", {}, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    ("Softsign", {}, lambda x: x / (1 + np.abs(x))),
    ("Floor", {}, np.floor), ("Ceil", {}, np.ceil), ("Round", {}, np.rint), ("Reciprocal", {}, lambda x: 1 / x),
    ("Sin", {}, np.sin), ("Cos", {}, np.cos),
])
def test_onnx_import(op_type, attrs, ref):
    node = helper.make_node(op_type, ["x"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    x = np.random.default_rng(2).uniform(-4, 4, (2, 5)).astype("float32")
    got = gn.compile(gn.onnx.load(model))(x=x)["y"]
    np.testing.assert_allclose(got, ref(x.astype("float64")), rtol=1e-5, atol=1e-6)
