"""The elementwise fusion pass: which chains become one node, what the node records, and that fused graphs
compute what the unfused ones do."""

from __future__ import annotations

import json

import numpy as np

import graphnn as gn
from graphnn.backends.numpy.fused_elementwise import fused_out_kernel
from graphnn.ir.serialize import from_json, to_json
from graphnn.passes.elementwise_fusion import FUSABLE, fuse_elementwise
from graphnn.backends.destination import UFUNCS


def _bias_relu() -> tuple:
    with gn.Graph() as g:
        x = gn.input("x", ("b", 4))
        w = gn.param("w", (4, 3), init=np.arange(12, dtype=np.float32).reshape(4, 3) / 10 - 0.5)
        c = gn.param("c", (3,), init=np.array([0.1, -0.2, 0.3], np.float32))
        h = gn.relu(x @ w + c)
        out = h * 2.0 - 1.0
    return g, out


def test_bias_add_relu_and_tail_become_one_node_with_provenance() -> None:
    g, out = _bias_relu()
    g.outputs = {"o": out}
    n_before = len(g.nodes)
    f = fuse_elementwise(g.copy())
    fused = [n for n in f.nodes if n.op == "fused_elementwise"]
    assert len(fused) == 1 and [s[0] for s in fused[0].attrs["body"]] == ["add", "relu", "mul", "sub"]
    assert len(f.nodes) == n_before - 3
    assert "fused" in fused[0].tags and len(fused[0].prov.derived_from) == 4
    assert fused[0].outputs[0].id == out.id  # consumers and outputs keep their value
    json.dumps(fused[0].attrs["body"])  # the body is JSON-shaped
    gn.verify(f)
    back = from_json(to_json(f))  # the fused node round-trips through the JSON form
    assert [n.op for n in back.nodes] == [n.op for n in f.nodes]


def test_values_with_two_consumers_end_a_chain() -> None:
    with gn.Graph() as g:
        x = gn.input("x", ("b", 3))
        z = x + 1.0
        h = gn.relu(z)
        a, b = h * 2.0, gn.exp(h)
    g.outputs = {"a": a, "b": b}
    f = fuse_elementwise(g.copy())
    fused = [[s[0] for s in n.attrs["body"]] for n in f.nodes if n.op == "fused_elementwise"]
    assert fused == [["add", "relu"]]  # h feeds two nodes, so it is materialized; a and b stay single ops


def test_fused_results_equal_unfused_forward_backward_and_update() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 4)).astype(np.float32)
    res = {}
    for passes in ("default", "none"):
        g, out = _bias_relu()
        loss = gn.mean(out * out)
        w = g.param("w")
        (gw,) = gn.grad(loss, [w])
        fn = gn.compile(g, {"o": out, "loss": loss}, {w: w - 0.1 * gw}, passes=passes)
        r = fn(x=X)
        res[passes] = (r["o"], r["loss"], g.storage["w"].copy(), fn)
    np.testing.assert_allclose(res["default"][0], res["none"][0], rtol=1e-6)
    np.testing.assert_allclose(res["default"][1], res["none"][1], rtol=1e-6)
    np.testing.assert_allclose(res["default"][2], res["none"][2], rtol=1e-6)
    fused_ops = {n.op for n in res["default"][3].graph.nodes}
    assert "fused_elementwise" in fused_ops


def test_fused_kernel_in_place_on_an_aliased_input() -> None:
    # update arithmetic w - lr * g written into w's own buffer must read w before overwriting it
    with gn.Graph() as g:
        a = gn.input("a", (3,))
        b = gn.input("b", (3,))
        out = b - 0.5 * gn.exp(a)
    g.outputs = {"o": out}
    f = fuse_elementwise(g.copy())
    node = next(n for n in f.nodes if n.op == "fused_elementwise")
    A, B = np.array([0.0, 1.0, 2.0], np.float32), np.array([1.0, 2.0, 3.0], np.float32)
    want = B - 0.5 * np.exp(A)
    for alias in (0, 1):
        ins = [A.copy(), B.copy()]
        out_arr = ins[alias]
        for fn, args, kw in fused_out_kernel(np, node, {}).calls(ins, out_arr):
            fn(*args, **kw)
        np.testing.assert_allclose(out_arr, want, rtol=1e-6)


def test_every_fusable_op_has_a_fused_numpy_member_kernel() -> None:
    assert FUSABLE - set(UFUNCS) <= {"relu", "cast", "identity", "where"}


def test_relu_gradient_select_is_exact_for_nan_and_inf() -> None:
    # where(z > 0, g, 0): the dropped branch may hold NaN/inf (a guarded log, say); the result must be +0.0
    with gn.Graph() as g:
        z = gn.input("z", (2, 3))
        gr = gn.input("g", (2, 3))
        out = gn.where(z > 0.0, gr, 0.0)
    g.outputs = {"o": out}
    f = fuse_elementwise(g.copy())
    node = next(n for n in f.nodes if n.op == "fused_elementwise")
    Z = np.array([[1, -1, 0], [np.nan, 2, -3]], np.float32)
    G = np.array([[np.inf, np.nan, 5], [3, np.nan, -np.inf]], np.float32)
    for alias in (None, 1):
        ins = [Z.copy(), G.copy()]
        dst = np.full((2, 3), 7, np.float32) if alias is None else ins[alias]
        for fn, args, kw in fused_out_kernel(np, node, {}).calls(ins, dst):
            fn(*args, **kw)
        want = np.where(Z > 0, G, 0)
        np.testing.assert_array_equal(dst, want)
        assert not np.signbit(dst[want == 0]).any()
