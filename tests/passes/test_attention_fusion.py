"""The attention fusion pass (graphnn/passes/attention_fusion.py): hand-written attention in its usual spellings
becomes one `attention` node with the right mask, causality and scale; numbers equal the unfused graph and plain
NumPy; fn.report() names the pattern and the user's line; fully masked rows stop being NaN."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pytest

import graphnn as gn
from tests.conformance.cases import CASES  # noqa: F401 - loaded first: it imports the family case files
from tests.conformance.cases_attention import np_attention

from .util import evaluate, run_pass

RNG = np.random.default_rng(3)
B, H, T, D = 2, 2, 5, 4
TRIL = np.tril(np.ones((T, T), bool))


def _swap(x: gn.Value) -> gn.Value:
    return gn.transpose(x, (0, 1, 3, 2))


def _naive(kind: str) -> Callable[..., gn.Value]:
    """Hand-written attention over (B, H, T, D) q, k, v and a (B, 1, T, T) bool mask m."""
    s = 1 / np.sqrt(D)

    def build(q: gn.Value, k: gn.Value, v: gn.Value, m: gn.Value) -> gn.Value:
        if kind == "mul":
            logits = (q @ _swap(k)) * s
        elif kind == "div-left":
            logits = float(np.sqrt(D)) ** -1 * (q @ _swap(k))
        elif kind == "div":
            logits = (q @ _swap(k)) / float(np.sqrt(D))
        elif kind == "q-scaled":
            logits = (q * s) @ _swap(k)
        elif kind == "where-inf":
            logits = gn.where(m, (q @ _swap(k)) * s, -np.inf)
        elif kind == "where-1e9":
            logits = gn.where(m, q @ _swap(k), -1e9) * s
        elif kind == "bias-where":
            logits = (q @ _swap(k)) * s + gn.where(m, gn.constant(0.0, "float32"), -1e9)
        elif kind == "causal-bias":
            logits = (q @ _swap(k)) * s + gn.constant(np.where(TRIL, 0.0, -np.inf).astype(np.float32))
        elif kind == "causal-where":
            logits = gn.where(gn.constant(TRIL), (q @ _swap(k)) * s, -1e9)
        else:
            raise AssertionError(kind)
        return gn.softmax(logits, axis=-1) @ v

    return build


# kind -> (mask used, causal, scale)
KINDS = {"mul": (False, False, 0.5), "div-left": (False, False, 0.5), "div": (False, False, 0.5),
         "q-scaled": (False, False, 0.5), "where-inf": (True, False, 0.5), "where-1e9": (True, False, 0.5),
         "bias-where": (True, False, 0.5), "causal-bias": (False, True, 0.5), "causal-where": (False, True, 0.5)}


def _feeds() -> dict[str, np.ndarray]:
    q, k, v = (RNG.standard_normal((B, H, T, D)).astype(np.float32) for _ in range(3))
    m = RNG.random((B, 1, T, T)) < 0.7
    m[..., 0] = True  # every row keeps a key here, so the naive forms are defined
    return {"q": q, "k": k, "v": v, "m": m}


def _graph(build: Callable[..., gn.Value]) -> tuple[gn.Graph, gn.Value]:
    with gn.Graph() as g:
        q, k, v = (gn.input(n, (None, H, T, D)) for n in "qkv")
        m = gn.input("m", (None, 1, T, T), "bool")
        out = build(q, k, v, m)
    return g, out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_hand_written_attention_becomes_one_op(kind: str) -> None:
    g, out = _graph(_naive(kind))
    got = run_pass(g, "attention_fusion", out=out)
    nodes = [n for n in got.nodes if n.op == "attention"]
    assert len(nodes) == 1 and not any(n.op in ("softmax", "matmul") for n in got.nodes), str(got)
    masked, causal, scale = KINDS[kind]
    node = nodes[0]
    assert node.attrs["causal"] == causal and node.attrs["scale"] == pytest.approx(scale)
    assert (len(node.inputs) == 4) == masked
    feeds = _feeds()
    want = np_attention(feeds["q"], feeds["k"], feeds["v"], feeds["m"] if masked else None, causal, scale)
    np.testing.assert_allclose(evaluate(got, **feeds)["out"], want, rtol=1e-5, atol=1e-6)


def test_two_dimensional_attention_with_dot_t() -> None:
    with gn.Graph() as g:
        q, k, v = gn.input("q", (6, 3)), gn.input("k", (7, 3)), gn.input("v", (7, 2))
        out = gn.softmax(q @ k.T * 0.3) @ v
    got = run_pass(g, "attention_fusion", out=out)
    assert [n.op for n in got.nodes] == ["attention"]
    a = [RNG.standard_normal(s).astype(np.float32) for s in ((6, 3), (7, 3), (7, 2))]
    np.testing.assert_allclose(evaluate(got, q=a[0], k=a[1], v=a[2])["out"], np_attention(*a, scale=0.3),
                               rtol=1e-5, atol=1e-6)


def test_report_names_the_pattern_and_the_users_line() -> None:
    with gn.Graph() as g:
        q, k, v = (gn.input(n, (None, T, D)) for n in "qkv")
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        out = gn.softmax(q @ gn.transpose(k, (0, 2, 1)) / 2.0) @ v
    fn = gn.compile(g, outputs={"out": out})
    text = str(fn.report())
    assert "attention_fusion" in text and "softmax(q @ kᵀ * s + mask) @ v" in text
    assert f"test_attention_fusion.py:{line}" in text


def test_gradients_of_the_fused_graph_equal_the_unfused_ones() -> None:
    feeds = _feeds()
    results = []
    for passes in ("default", ["cse", "simplify"]):
        g, out = _graph(_naive("where-1e9"))
        with g:
            loss = gn.sum(out * out)
            gq, gk, gv = gn.grad(loss, [g.inputs[0], g.inputs[1], g.inputs[2]])
        fn = gn.compile(g, outputs={"gq": gq, "gk": gk, "gv": gv}, passes=passes)
        assert ("attention" in {n.op for n in fn.graph.nodes}) == (passes == "default")
        results.append(fn(**feeds))
    for name in ("gq", "gk", "gv"):
        np.testing.assert_allclose(results[0][name], results[1][name], rtol=1e-4, atol=1e-6)


def test_fully_masked_row_is_nan_by_hand_and_zero_fused() -> None:
    feeds = _feeds()
    feeds["m"][0, 0, 2] = False  # query 2 of batch 0 may attend nothing
    outs = {}
    for passes in ("default", ["cse"]):
        g, out = _graph(_naive("where-inf"))
        fn = gn.compile(g, outputs={"out": out}, passes=passes)
        with np.errstate(invalid="ignore"):
            outs[str(passes)] = fn(**feeds)["out"]
        if passes == "default":
            diag = fn.report().diagnostics
            assert any("NaN" in d["reason"] and d["fixed"] for d in diag)
    assert np.isnan(outs["['cse']"][0, :, 2]).all()  # the trap the fusion removes
    fused = outs["default"]
    assert np.isfinite(fused).all() and not fused[0, :, 2].any()


def test_weights_used_elsewhere_are_not_fused() -> None:
    with gn.Graph() as g:
        q, k, v = (gn.input(n, (None, T, D)) for n in "qkv")
        p = gn.softmax(q @ gn.transpose(k, (0, 2, 1)))
        out = p @ v
    got = run_pass(g, "attention_fusion", out=out, weights=p)
    assert not any(n.op == "attention" for n in got.nodes)


def test_softmax_over_another_axis_or_without_a_transposed_key_is_left_alone() -> None:
    with gn.Graph() as g:
        q, k, v = gn.input("q", (T, D)), gn.input("kt", (D, T)), gn.input("v", (T, 3))
        a = gn.softmax(q @ k) @ v  # kᵀ is not a transpose: an ordinary product chain
        b = gn.softmax(q @ gn.transpose(k * 1.0, (1, 0)).T, axis=0) @ v
    got = run_pass(g, "attention_fusion", a=a, b=b)
    assert not any(n.op == "attention" for n in got.nodes)
