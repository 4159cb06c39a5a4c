"""The fusion pass (graphnn/passes/fusion.py): each rule against a hand-built expected graph (structure)
and against plain-NumPy references (numbers)."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

from .util import assert_structure, evaluate, ops, run_pass

RNG = np.random.default_rng(0)


def _lse(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _reduce(per: np.ndarray, reduction: str) -> np.ndarray:
    return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target", ["labels", "onehot", "soft"])
@pytest.mark.parametrize("axis", [1, 2])
def test_softmax_cross_entropy(reduction: str, target: str, axis: int) -> None:
    shape = (2, 3, 4)
    k = shape[axis]
    rest = tuple(d for i, d in enumerate(shape) if i != axis)
    x = RNG.standard_normal(shape).astype(np.float32)
    labels = RNG.integers(0, k, rest)
    if target == "labels":
        t = labels
    else:
        t = np.moveaxis(np.eye(k)[labels], -1, axis) if target == "onehot" else RNG.random(shape)
        t = (t / t.sum(axis=axis, keepdims=True)).astype(np.float32)

    def build(g: gn.Graph) -> tuple[gn.Value, gn.Value]:
        xv = gn.input("x", shape)
        tv = gn.input("t", t.shape, t.dtype)
        return xv, tv

    with gn.Graph("before") as g:
        xv, tv = build(g)
        loss = gn.cross_entropy(gn.softmax(xv, axis=axis), tv, reduction=reduction, axis=axis)
    with gn.Graph("expected") as e:
        xe, te = build(e)
        e.output("loss", gn.softmax_cross_entropy(xe, te, reduction=reduction, axis=axis))
    got = run_pass(g, "fusion", loss=loss)
    assert_structure(got, e)
    assert ops(got, "fused") == ["softmax_cross_entropy"]
    logp = x.astype(np.float64) - _lse(x, axis)
    if target == "labels":
        per = -np.take_along_axis(logp, np.expand_dims(labels, axis), axis).squeeze(axis)
    else:
        per = -(t * logp).sum(axis=axis)
    np.testing.assert_allclose(evaluate(got, x=x, t=t)["loss"], _reduce(per, reduction), rtol=1e-5, atol=1e-6)


def test_softmax_cross_entropy_fires_when_softmax_has_other_users() -> None:
    with gn.Graph("before") as g:
        x, y = gn.input("x", (None, 5)), gn.input("y", (None,), "int64")
        p = gn.softmax(x)
        loss = gn.cross_entropy(p, y)
    with gn.Graph("expected") as e:
        xe, ye = gn.input("x", (None, 5)), gn.input("y", (None,), "int64")
        e.output("loss", gn.softmax_cross_entropy(xe, ye))
        e.output("probs", gn.softmax(xe))
    got = run_pass(g, "fusion", loss=loss, probs=p)
    assert_structure(got, e)
    fired = got.report.record("fusion").fired
    assert [f["pattern"] for f in fired] == ["cross_entropy(softmax(x))"]


def test_no_fusion_when_axes_differ() -> None:
    with gn.Graph("g") as g:
        x, t = gn.input("x", (3, 3)), gn.input("t", (3, 3))
        loss = gn.cross_entropy(gn.softmax(x, axis=0), t, axis=1)
    got = run_pass(g, "fusion", loss=loss)
    assert ops(got) == ["cross_entropy", "softmax"]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_sigmoid_binary_cross_entropy(reduction: str) -> None:
    z = RNG.standard_normal((4, 3)).astype(np.float32)
    t = RNG.random((4, 3)).astype(np.float32)
    with gn.Graph("before") as g:
        zv, tv = gn.input("z", (None, 3)), gn.input("t", (None, 3))
        loss = gn.binary_cross_entropy(gn.sigmoid(zv), tv, reduction=reduction)
    with gn.Graph("expected") as e:
        ze, te = gn.input("z", (None, 3)), gn.input("t", (None, 3))
        e.output("loss", gn.sigmoid_binary_cross_entropy(ze, te, reduction=reduction))
    got = run_pass(g, "fusion", loss=loss)
    assert_structure(got, e)
    z64 = z.astype(np.float64)
    per = np.maximum(z64, 0) - z64 * t + np.log1p(np.exp(-np.abs(z64)))
    np.testing.assert_allclose(evaluate(got, z=z, t=t)["loss"], _reduce(per, reduction), rtol=1e-5, atol=1e-6)


def _unary_case(build_before, build_expected, ref, x: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    with gn.Graph("before") as g:
        out = build_before(gn.input("x", x.shape))
    with gn.Graph("expected") as e:
        e.output("out", build_expected(gn.input("x", x.shape)))
    got = run_pass(g, "fusion", out=out)
    assert_structure(got, e)
    assert all("fused" in n.tags for n in got.nodes)
    np.testing.assert_allclose(evaluate(got, x=x)["out"], ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_log_softmax() -> None:
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    _unary_case(lambda v: gn.log(gn.softmax(v, axis=0)), lambda v: gn.log_softmax(v, axis=0),
                lambda a: a - _lse(a, 0), x)


def test_log_sigmoid() -> None:
    x = np.array([-100.0, -3.0, 0.0, 2.0, 100.0], np.float32)
    _unary_case(lambda v: gn.log(gn.sigmoid(v)), lambda v: -gn.softplus(-v),
                lambda a: -np.logaddexp(0, -a), x)


def test_log_one_minus_sigmoid() -> None:
    x = np.array([-100.0, -3.0, 0.0, 2.0, 100.0], np.float32)
    _unary_case(lambda v: gn.log(1.0 - gn.sigmoid(v)), lambda v: -gn.softplus(v),
                lambda a: -np.logaddexp(0, a), x)


@pytest.mark.parametrize("one_first", [True, False])
def test_log_one_plus_exp(one_first: bool) -> None:
    x = np.array([-100.0, -1.0, 0.0, 3.0, 100.0], np.float32)
    _unary_case(lambda v: gn.log(1.0 + gn.exp(v) if one_first else gn.exp(v) + 1.0), gn.softplus,
                lambda a: np.logaddexp(0, a), x)


def test_log_one_plus_exp_not_fused_when_the_one_broadcasts() -> None:
    # log(ones((3, 4)) + exp(x)) with x: (4,) has shape (3, 4); softplus(x) would be (4,): not the same value.
    with gn.Graph("g") as g:
        x = gn.input("x", (4,))
        out = gn.log(gn.constant(np.ones((3, 4), np.float32)) + gn.exp(x))
    got = run_pass(g, "fusion", out=out)
    assert ops(got) == ["add", "exp", "log"]
    assert not got.report.record("fusion").fired


def test_softmax_by_hand() -> None:
    x = RNG.standard_normal((3, 4)).astype(np.float32)

    def before(v: gn.Value) -> gn.Value:
        e = gn.exp(v)
        return e / gn.sum(e, axis=1, keepdims=True)

    _unary_case(before, lambda v: gn.softmax(v, axis=1), lambda a: np.exp(a - _lse(a, 1)), x)


def test_softmax_by_hand_needs_the_same_exp_and_one_axis() -> None:
    with gn.Graph("g") as g:
        x = gn.input("x", (3, 4))
        e = gn.exp(x)
        other = e / gn.sum(gn.exp(x * 2.0), axis=1, keepdims=True)
        two_axes = e / gn.sum(e, axis=(0, 1), keepdims=True)
    got = run_pass(g, "fusion", other=other, two_axes=two_axes)
    assert "softmax" not in ops(got)


@pytest.mark.parametrize("keepdims", [True, False])
def test_logsumexp(keepdims: bool) -> None:
    x = np.array([[1.0, 2.0, 3.0], [100.0, 0.0, -100.0]], np.float32)
    with gn.Graph("before") as g:
        v = gn.input("x", (2, 3))
        out = gn.log(gn.sum(gn.exp(v), axis=1, keepdims=keepdims))
    got = run_pass(g, "fusion", out=out)
    assert ops(got) == sorted(["max", "stop_gradient", "sub", "exp", "sum", "log", "add"]
                              + ([] if keepdims else ["reshape"]))
    want = _lse(x, 1) if keepdims else _lse(x, 1)[:, 0]
    np.testing.assert_allclose(evaluate(got, x=x)["out"], want, rtol=1e-6)
    again = run_pass(got, "fusion", out=got.outputs["out"])  # the rewritten form is left alone
    assert not again.report.record("fusion").fired


def test_backward_of_fused_loss_is_closed_form() -> None:
    """Fusion runs before autodiff: the gradient graph is softmax - onehot, no log or division by p."""
    with gn.Graph("g") as g:
        x, y = gn.input("x", (4, 5)), gn.input("y", (4,), "int64")
        loss = gn.cross_entropy(gn.softmax(x), y)
        dx = gn.grad(loss, x)
    fn = gn.compile(g, outputs={"loss": loss, "dx": dx})
    bwd = ops(fn.graph, "backward")
    assert "softmax" in bwd and "one_hot" in bwd and "log" not in bwd and "div" not in bwd, bwd
    xs = RNG.standard_normal((4, 5)).astype(np.float32)
    ys = np.array([0, 4, 2, 2])
    p = np.exp(xs - _lse(xs, 1))
    np.testing.assert_allclose(fn(x=xs, y=ys)["dx"], (p - np.eye(5)[ys]) / 4, rtol=1e-5, atol=1e-7)


def test_provenance_of_fused_node_unions_the_replaced_nodes() -> None:
    with gn.Graph("g") as g:
        x, y = gn.input("x", (2, 3)), gn.input("y", (2,), "int64")
        p = gn.softmax(x)
        loss = gn.cross_entropy(p, y)
    got = run_pass(g, "fusion", loss=loss)
    (node,) = got.nodes
    assert node.prov.derived_from == {p.producer.id, loss.producer.id}
    assert node.prov.passes == ("fusion",)
    assert node.prov.locations == p.producer.prov.locations | loss.producer.prov.locations
    assert len(node.prov.locations) == 2
