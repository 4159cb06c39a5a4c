"""Importer rows the sequence-model exports need: Not/And/Or/Xor, Trilu over symbolic dims, Mod of constants folded
at import, and ONNX's opset-23 Attention (4-D and 3-D with grouped heads, bool and additive masks, causal) against
onnxruntime or NumPy written here; and the clear refusals (KV cache, softcap, Mod of run-time tensors)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import graphnn as gn
from graphnn.backends.onnx.parity import run_onnxruntime

RNG = np.random.default_rng(3)


def _model(nodes: list, inputs: list, outputs: list, opset: int = 17, inits: list | None = None) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=inits or [])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _info(name: str, elem: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


@pytest.mark.parametrize("op", ["Not", "And", "Or", "Xor"])
def test_logical_ops_match_onnxruntime(op: str) -> None:
    ins = ["a"] if op == "Not" else ["a", "b"]
    m = _model([helper.make_node(op, ins, ["y"])], [_info(i, TensorProto.BOOL, ["N", 3]) for i in ins],
               [_info("y", TensorProto.BOOL, None)])
    feeds = {i: RNG.random((4, 3)) < 0.5 for i in ins}
    ours = gn.compile(gn.onnx.load(m))(**feeds)["y"]
    np.testing.assert_array_equal(ours, run_onnxruntime(m, feeds)["y"])


@pytest.mark.parametrize("upper,k", [(0, 0), (1, 0), (0, -1), (1, 2)])
def test_trilu_over_symbolic_rows_and_columns_matches_onnxruntime(upper: int, k: int) -> None:
    kk = helper.make_tensor("k", TensorProto.INT64, [], [k])
    m = _model([helper.make_node("Trilu", ["x", "k"], ["y"], upper=upper)],
               [_info("x", TensorProto.FLOAT, [2, "R", "C"])], [_info("y", TensorProto.FLOAT, None)], inits=[kk])
    fn = gn.compile(gn.onnx.load(m))
    for r, c in ((3, 5), (6, 2)):
        x = RNG.standard_normal((2, r, c)).astype("float32")
        want = np.triu(x, k) if upper else np.tril(x, k)
        np.testing.assert_array_equal(fn(x=x)["y"], want)
        np.testing.assert_array_equal(run_onnxruntime(m, {"x": x})["y"], want)


def test_mod_of_constants_folds_and_mod_of_run_time_tensors_runs() -> None:
    a, b = helper.make_tensor("a", TensorProto.INT64, [2], [7, -7]), helper.make_tensor("b", TensorProto.INT64, [], [3])
    folded = _model([helper.make_node("Mod", ["a", "b"], ["r"]), helper.make_node("Reshape", ["x", "r"], ["y"])],
                    [_info("x", TensorProto.FLOAT, [2, 1])], [_info("y", TensorProto.FLOAT, None)], inits=[a, b])
    # 7 mod 3 = 1 and -7 mod 3 = 2 (the divisor's sign, fmod=0): the reshape target is (1, 2)
    assert gn.onnx.load(folded).outputs["y"].shape == (1, 2)
    run_time = _model([helper.make_node("Mod", ["x", "d"], ["y"])],
                      [_info("x", TensorProto.INT64, [4]), _info("d", TensorProto.INT64, [4])],
                      [_info("y", TensorProto.INT64, None)])
    x, d = np.array([7, -7, 7, -7]), np.array([3, 3, -3, -3])
    got = gn.compile(gn.onnx.load(run_time))(x=x, d=d)["y"]
    np.testing.assert_array_equal(got, [1, 2, -2, -1])  # Python's rule: the divisor's sign


def _reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None, causal: bool,
               scale: float) -> np.ndarray:
    """Plain float64 attention: repeat kv heads for their query groups, mask (bool: keep; float: add), softmax."""
    g = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)
    s = q.astype(np.float64) @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


@pytest.mark.parametrize("mask_kind", [None, "bool", "float"])
@pytest.mark.parametrize("causal", [False, True])
def test_onnx_attention_4d_matches_numpy(mask_kind: str | None, causal: bool) -> None:
    b, h, tq, tk, d = 2, 3, 4, 5, 8
    q, k, v = (RNG.standard_normal(s).astype("float32") for s in ((b, h, tq, d), (b, h, tk, d), (b, h, tk, d)))
    feeds = {"q": q, "k": k, "v": v}
    ins = ["q", "k", "v"]
    infos = [_info(n, TensorProto.FLOAT, list(a.shape)) for n, a in feeds.items()]
    mask = None
    if mask_kind:
        mask = RNG.random((tq, tk)) < 0.7 if mask_kind == "bool" else RNG.standard_normal((tq, tk)).astype("float32")
        mask[:, 0] = True if mask_kind == "bool" else mask[:, 0]  # every row keeps a key
        feeds["m"] = mask
        ins.append("m")
        infos.append(_info("m", TensorProto.BOOL if mask_kind == "bool" else TensorProto.FLOAT, [tq, tk]))
    node = helper.make_node("Attention", ins, ["y"], is_causal=int(causal), scale=0.3)
    m = _model([node], infos, [_info("y", TensorProto.FLOAT, None)], opset=23)
    ours = gn.compile(gn.onnx.load(m))(**feeds)["y"]
    np.testing.assert_allclose(ours, _reference(q, k, v, mask, causal, 0.3), rtol=1e-5, atol=1e-6)


def test_onnx_attention_3d_grouped_heads_matches_numpy() -> None:
    b, t, qh, kvh, d = 2, 5, 4, 2, 3
    q = RNG.standard_normal((b, t, qh * d)).astype("float32")
    k, v = (RNG.standard_normal((b, t, kvh * d)).astype("float32") for _ in range(2))
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], q_num_heads=qh, kv_num_heads=kvh, is_causal=1)
    m = _model([node], [_info(n, TensorProto.FLOAT, list(a.shape)) for n, a in (("q", q), ("k", k), ("v", v))],
               [_info("y", TensorProto.FLOAT, None)], opset=23)
    ours = gn.compile(gn.onnx.load(m))(q=q, k=k, v=v)["y"]

    def heads(x: np.ndarray, h: int) -> np.ndarray:
        return x.reshape(b, t, h, -1).transpose(0, 2, 1, 3)

    want = _reference(heads(q, qh), heads(k, kvh), heads(v, kvh), None, True, 1 / np.sqrt(d))
    np.testing.assert_allclose(ours, want.transpose(0, 2, 1, 3).reshape(b, t, qh * d), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attrs,extra,match", [({"softcap": 2.0}, [], "softcap"),
                                               ({}, ["", "pk", "pv"], "KV cache")])
def test_onnx_attention_forms_graphnn_lacks_are_refused(attrs: dict, extra: list, match: str) -> None:
    shape = [1, 2, 3, 4]
    names = ["q", "k", "v"] + [e for e in extra if e]
    node = helper.make_node("Attention", ["q", "k", "v"] + extra, ["y"], **attrs)
    m = _model([node], [_info(n, TensorProto.FLOAT, shape) for n in names], [_info("y", TensorProto.FLOAT, None)],
               opset=23)
    with pytest.raises(gn.GraphError, match=match):
        gn.onnx.load(m)
