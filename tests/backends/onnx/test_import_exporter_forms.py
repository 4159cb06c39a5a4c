"""What real exporters write, imported: shape arithmetic over symbolic dims folded at import (Shape, Gather,
Unsqueeze, Concat, Mul, Div, Cast, Equal, Where, ConstantOfShape, Range feeding Reshape and Expand), variadic
Mean, Gemm's attributes, unread optional outputs, the attribute forms of old opsets, and one error naming every
problem. References: onnxruntime at two batch sizes, or NumPy written here where onnxruntime lacks the opset."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphnn as gn
from graphnn.backends.onnx.parity import run_graph, run_onnxruntime

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def _model(nodes, inputs, outputs, inits=(), opset=17, check=True) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=[numpy_helper.from_array(np.asarray(a), k)
                                                                     for k, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8 if opset >= 7 else 3)
    if check:
        onnx.checker.check_model(m, full_check=True)
    return m


def _vi(name, shape, t=F):
    return helper.make_tensor_value_info(name, t, shape)


def _i64(*v) -> np.ndarray:
    return np.asarray(v, np.int64)


def _like_onnxruntime(m: onnx.ModelProto, feeds_at: object, sizes=(2, 5)) -> gn.Graph:
    g = gn.onnx.load(m)
    for b in sizes:
        feeds = feeds_at(b)  # type: ignore[operator]
        ours, ref = run_graph(g, feeds), run_onnxruntime(m, feeds)
        for k in ref:
            assert ours[k].shape == ref[k].shape and ours[k].dtype == ref[k].dtype, k
            np.testing.assert_allclose(ours[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=f"{k} at batch {b}")
    return g


def _x(*shape):
    return lambda b: {"x": np.random.default_rng(b).standard_normal((b, *shape)).astype(np.float32)}


def test_torchscript_flatten_chain_with_mul_of_dims() -> None:
    # (N, C, H, W) -> (N, C*H*W), the product computed from Shape at run time: Gather, Mul, Unsqueeze, Concat.
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
             helper.make_node("Gather", ["s", "i1"], ["c"], axis=0),
             helper.make_node("Gather", ["s", "i2"], ["h"], axis=0),
             helper.make_node("Mul", ["c", "h"], ["ch"]),
             helper.make_node("Mul", ["ch", "four"], ["chw"]),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Unsqueeze", ["chw", "ax0"], ["chw1"]),
             helper.make_node("Concat", ["n1", "chw1"], ["t"], axis=0),
             helper.make_node("Reshape", ["x", "t"], ["y"])]
    m = _model(nodes, [_vi("x", ["N", 3, 2, 4])], [_vi("y", ["N", 24])],
               [("i0", _i64(0).reshape(())), ("i1", _i64(1).reshape(())), ("i2", _i64(2).reshape(())),
                ("four", _i64(4).reshape(())), ("ax0", _i64(0))])
    g = _like_onnxruntime(m, _x(3, 2, 4))
    assert g.outputs["y"].shape == ("N", 24)


def test_symbolic_products_and_quotients_from_shape_arithmetic() -> None:
    # x: (N, 6) -> reshape to (N*2, 3) via Mul of a symbolic dim, then back with Div: (N*2)/2 = N.
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "i0", "i1"], ["n"]),
             helper.make_node("Mul", ["n", "two"], ["n2"]),
             helper.make_node("Concat", ["n2", "three"], ["t"], axis=0),
             helper.make_node("Reshape", ["x", "t"], ["r"]),
             helper.make_node("Shape", ["r"], ["rs"]),
             helper.make_node("Gather", ["rs", "i0"], ["m"], axis=0),
             helper.make_node("Div", ["m", "two"], ["back"]),
             helper.make_node("Cast", ["back"], ["backc"], to=I64),
             helper.make_node("Concat", ["backc", "six"], ["t2"], axis=0),
             helper.make_node("Reshape", ["r", "t2"], ["y"])]
    m = _model(nodes, [_vi("x", ["N", 6])], [_vi("r", [None, 3]), _vi("y", ["N", 6])],
               [("i0", _i64(0)), ("i1", _i64(1)), ("two", _i64(2)), ("three", _i64(3)), ("six", _i64(6))])
    g = _like_onnxruntime(m, _x(6))
    assert str(g.outputs["r"].type) == "float32[N*2,3]" and g.outputs["y"].shape == ("N", 6)


def test_expand_guarded_by_equal_and_where_and_constant_of_shape() -> None:
    # TorchScript's expand(x, (N, -1, 4)) pattern: ConstantOfShape -> Mul(-1) -> Equal(target, -1) -> Where.
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
             helper.make_node("Concat", ["n", "m1", "four"], ["target"], axis=0),
             helper.make_node("ConstantOfShape", ["three"], ["ones"],
                              value=numpy_helper.from_array(_i64(1))),
             helper.make_node("Mul", ["ones", "m1"], ["neg"]),
             helper.make_node("Equal", ["target", "neg"], ["eq"]),
             helper.make_node("Where", ["eq", "ones", "target"], ["shape"]),
             helper.make_node("Expand", ["x", "shape"], ["y"]),
             helper.make_node("ConstantOfShape", ["s"], ["z"], value=numpy_helper.from_array(
                 np.asarray([0.5], np.float32))),
             helper.make_node("Add", ["x", "z"], ["w"])]
    m = _model(nodes, [_vi("x", ["N", 1, 1])], [_vi("y", ["N", 1, 4]), _vi("w", ["N", 1, 1])],
               [("i0", _i64(0)), ("m1", _i64(-1)), ("four", _i64(4)), ("three", _i64(3))])
    g = _like_onnxruntime(m, _x(1, 1))
    assert g.outputs["y"].shape == ("N", 1, 4)


def test_range_of_a_static_size_and_size_of_a_symbolic_tensor_is_a_product() -> None:
    nodes = [helper.make_node("Range", ["zero", "five", "one"], ["r"]),
             helper.make_node("Cast", ["r"], ["rf"], to=F),
             helper.make_node("Add", ["x", "rf"], ["y"])]
    m = _model(nodes, [_vi("x", ["N", 5])], [_vi("y", ["N", 5])],
               [("zero", _i64(0).reshape(())), ("five", _i64(5).reshape(())), ("one", _i64(1).reshape(()))])
    _like_onnxruntime(m, _x(5))


def test_shape_arithmetic_that_cannot_be_known_is_a_graphnn_error() -> None:
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Add", ["s", "one"], ["t"]),
             helper.make_node("Reshape", ["x", "t"], ["y"])]
    m = _model(nodes, [_vi("x", ["N"])], [_vi("y", [None])], [("one", _i64(1))])
    with pytest.raises(gn.GraphError, match=r"node #1 \(Add\).*N \+ 1"):
        gn.onnx.load(m)


def test_variadic_mean_sum_max_min() -> None:
    outs = ["mean", "sum", "max", "min"]
    nodes = [helper.make_node(op.capitalize(), ["x", "a", "b"], [op]) for op in outs]
    m = _model(nodes, [_vi("x", ["N", 3]), _vi("a", [1, 3]), _vi("b", [3])], [_vi(o, ["N", 3]) for o in outs])
    r = np.random.default_rng(0)
    _like_onnxruntime(m, lambda n: {"x": r.standard_normal((n, 3)).astype(np.float32),
                                    "a": r.standard_normal((1, 3)).astype(np.float32),
                                    "b": r.standard_normal(3).astype(np.float32)})


@pytest.mark.parametrize("ta,tb,alpha,beta", [(0, 1, 1.0, 1.0), (1, 0, 0.5, 2.0), (1, 1, -1.5, 0.0)])
def test_gemm_attributes(ta: int, tb: int, alpha: float, beta: float) -> None:
    r = np.random.default_rng(1)
    b = r.standard_normal((5, 4) if tb else (4, 5)).astype(np.float32)
    c = r.standard_normal(5).astype(np.float32)
    a_shape = [4, "N"] if ta else ["N", 4]
    m = _model([helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=ta, transB=tb, alpha=alpha, beta=beta)],
               [_vi("a", a_shape)], [_vi("y", ["N", 5])], [("b", b), ("c", c)])
    _like_onnxruntime(m, lambda n: {"a": r.standard_normal((4, n) if ta else (n, 4)).astype(np.float32)})


def test_dropout_mask_nobody_reads_is_ignored_but_a_read_one_is_refused() -> None:
    m = _model([helper.make_node("Dropout", ["x"], ["y", "mask"], name="drop")], [_vi("x", ["N", 3])],
               [_vi("y", ["N", 3])])
    _like_onnxruntime(m, _x(3))
    m = _model([helper.make_node("Dropout", ["x"], ["y", "mask"], name="drop")], [_vi("x", ["N", 3])],
               [_vi("y", ["N", 3]), _vi("mask", ["N", 3], TensorProto.BOOL)])
    with pytest.raises(gn.GraphError, match="drop.*mask"):
        gn.onnx.load(m)


def test_old_opset_attribute_forms_match_numpy() -> None:
    # Slice-1 (attributes), Reshape-1 (shape attribute), Unsqueeze-1/Squeeze-1 (axes attributes), Split-2 (split
    # attribute), Softmax-1 (flattening at axis 1) at opset 4; PRelu-6 (a per-channel 1-D slope) at opset 6.
    # onnxruntime does not run these opsets: checked against NumPy.
    slope = np.asarray([0.1, 0.2, 0.3], np.float32)
    nodes = [helper.make_node("Slice", ["x"], ["s"], starts=[0, 1], ends=[2**31 - 1, 3], axes=[0, 3]),
             helper.make_node("Reshape", ["s"], ["r"], shape=[0, 3, 8]),
             helper.make_node("Unsqueeze", ["r"], ["u"], axes=[1]),
             helper.make_node("Squeeze", ["u"], ["q"], axes=[1]),
             helper.make_node("Split", ["q"], ["p1", "p2"], axis=2, split=[3, 5]),
             helper.make_node("Softmax", ["x"], ["sm"], axis=1)]
    m = _model(nodes, [_vi("x", [2, 3, 4, 4])],
               [_vi("p1", [2, 3, 3]), _vi("p2", [2, 3, 5]), _vi("sm", [2, 3, 4, 4])], opset=4, check=False)
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 4)).astype(np.float32)
    out = run_graph(gn.onnx.load(m), {"x": x})
    m6 = _model([helper.make_node("PRelu", ["x", "slope"], ["pr"])], [_vi("x", [2, 3, 4, 4])],
                [_vi("pr", [2, 3, 4, 4])], [("slope", slope)], opset=6, check=False)
    out |= run_graph(gn.onnx.load(m6), {"x": x})
    q = x[:, :, :, 1:3].reshape(2, 3, 8)
    np.testing.assert_array_equal(out["p1"], q[:, :, :3])
    np.testing.assert_array_equal(out["p2"], q[:, :, 3:])
    flat = x.reshape(2, 48).astype(np.float64)
    sm = np.exp(flat - flat.max(1, keepdims=True))
    np.testing.assert_allclose(out["sm"], (sm / sm.sum(1, keepdims=True)).reshape(x.shape), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["pr"], np.where(x > 0, x, x * slope[:, None, None]), rtol=1e-6)


def test_split_with_a_sizes_input_as_chunk_writes_it() -> None:
    m = _model([helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1)], [_vi("x", ["N", 6])],
               [_vi("a", ["N", 2]), _vi("b", ["N", 4])], [("sizes", _i64(2, 4))])
    _like_onnxruntime(m, _x(6))


def test_one_error_names_every_unsupported_op_and_every_refused_node() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("LpNormalization", ["a"], ["b"], name="lp"),
             helper.make_node("Dropout", ["a"], ["c", "mask"], name="drop"),
             helper.make_node("ArgMax", ["a"], ["d"], name="am", select_last_index=1),
             helper.make_node("Shape", ["a"], ["s"], name="shp"),
             helper.make_node("Add", ["s", "one"], ["t"], name="bad_arith"),
             helper.make_node("Reshape", ["a", "t"], ["e"], name="downstream"),
             helper.make_node("Fancy", ["b"], ["f"], name="custom", domain="com.example")]
    m = _model(nodes, [_vi("x", ["N", 3])],
               [_vi("b", ["N", 3]), _vi("mask", ["N", 3], TensorProto.BOOL), _vi("d", ["N"], I64),
                _vi("e", None), _vi("f", None), _vi("c", ["N", 3])], [("one", _i64(1))], check=False)
    with pytest.raises(gn.GraphError) as ei:
        gn.onnx.load(m)
    msg = str(ei.value)
    for part in ("LpNormalization (lp)", "Fancy (custom)", "drop (Dropout)", "am (ArgMax)", "bad_arith (Add)"):
        assert part in msg, (part, msg)
    assert "downstream" not in msg  # it reads a failed node's output: not checked, not blamed
    assert "\n" not in msg


def test_range_over_a_symbolic_length_is_the_positions_of_a_sequence() -> None:
    # torch.arange(x.size(1)) with a dynamic sequence length: Shape -> Gather -> Range(0, T, 1).
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "one"], ["t"], axis=0),
             helper.make_node("Range", ["zero", "t", "step"], ["pos"]),
             helper.make_node("Cast", ["pos"], ["posf"], to=F), helper.make_node("Add", ["x", "posf"], ["y"])]
    m = _model(nodes, [_vi("x", ["N", "T"])], [_vi("y", ["N", "T"]), _vi("pos", ["T"], I64)],
               [("one", _i64(1).reshape(())), ("zero", _i64(0).reshape(())), ("step", _i64(1).reshape(()))])
    g = _like_onnxruntime(m, lambda b: {"x": np.random.default_rng(b).standard_normal((2, b + 1)).astype(np.float32)})
    assert g.outputs["pos"].shape == ("T",)


def test_integer_mod_in_shape_arithmetic_folds() -> None:
    """TorchScript's attention exports compute head sizes with Mod; on static ints it folds (Python's sign rule;
    fmod=1 takes the dividend's sign, as C)."""
    def const(name: str, v: list) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.int64)))

    nodes = [const("a", [-10]), const("b", [4]), const("three", [-3]), const("m1", [-1]),
             helper.make_node("Mod", ["a", "b"], ["r"]),                 # -10 mod 4 = 2
             helper.make_node("Mod", ["a", "three"], ["f"], fmod=1),     # fmod(-10, -3) = -1
             helper.make_node("Mul", ["r", "f"], ["rf"]),                # -2
             helper.make_node("Mul", ["rf", "three"], ["six"]),          # 6
             helper.make_node("Concat", ["m1", "six"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = gn.onnx.load(helper.make_model(helper.make_graph(nodes, "m", [x], [y])))
    xs = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(gn.compile(g)(x=xs)["y"], xs.reshape(2, 6))
