"""Every registered op has an ONNX lowering or an explicit reason; every lowering is checked per conformance case
(checker, shape inference, onnxruntime parity at two batch sizes, round trip) and on cases of its own."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.onnx import LOWERINGS, TRAINING_ONLY, UNSUPPORTED
from graphnn.backends.onnx.emitter import MIN_OPSET
from graphnn.backends.onnx.exporter import DEFAULT_OPSET
from graphnn.ir.op_registry import registry
from tests.conformance.cases import CASES, Case, build_case, draw

from .helpers import export_and_compare


def test_every_op_has_a_lowering_or_a_reason() -> None:
    missing = [op for op in registry() if op not in LOWERINGS and not UNSUPPORTED.get(op)]
    assert not missing, f"ops with neither an ONNX lowering nor an 'unsupported: why': {missing}"
    assert not set(LOWERINGS) & set(UNSUPPORTED)


def _feeds(case: Case, names: list[str]):
    def f(size: int) -> dict:
        rng = np.random.default_rng(size)
        return {n: draw(s, size, rng) for n, s in zip(names, case.inputs)}

    return f


LOWERED_CASES = [c for c in CASES if c.op in LOWERINGS]


# Every case at the oldest opset graphnn writes and at the default: the forms that differ by opset (reduction
# axes as attribute or input, Reshape's shape inference) are each exercised.
OPSETS = sorted({MIN_OPSET, DEFAULT_OPSET})


def _export_at(opset: int, op: str, g: gn.Graph, outs: dict, feeds, **kw) -> None:
    """Export at `opset` and compare; an op whose lowering needs a newer opset must be refused, naming it."""
    need = LOWERINGS[op].min_opset if op in LOWERINGS else MIN_OPSET
    if need > opset:
        with pytest.raises(gn.GraphError, match=f"needs opset >= {need}"):
            gn.onnx.export(g, None, outputs=outs, opset=opset, check_parity=False, **kw)
        return
    export_and_compare(g, outs, feeds, opset=opset, **kw)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("case", LOWERED_CASES, ids=lambda c: f"{c.op}-{c.id}" if c.id else c.op)
def test_conformance_case_matches_onnxruntime(case: Case, opset: int) -> None:
    g, ins, out = build_case(case)
    _export_at(opset, case.op, g, {"out": out}, _feeds(case, [v.name for v in ins]),
               allow_training_ops=case.op in TRAINING_ONLY)


def test_every_lowered_op_has_a_parity_case() -> None:
    covered = {c.op for c in CASES} | set(EXTRA_OPS)
    assert not [op for op in LOWERINGS if op in registry() and op not in covered]


# ---- cases for lowering branches the conformance cases do not reach --------------------------------------
def _build(specs: dict, fn):  # specs: name -> (shape, dtype, draw)
    with gn.Graph("extra") as g:
        ins = {k: gn.input(k, shape, dt) for k, (shape, dt, _) in specs.items()}
        out = fn(**ins)
    outs = out if isinstance(out, dict) else {"out": out}

    def feeds(size: int) -> dict:
        rng = np.random.default_rng(size)
        res = {}
        for k, (shape, dt, kind) in specs.items():
            shp = tuple(size if isinstance(d, str) or d is None else d for d in shape)
            if kind.startswith("label:"):
                res[k] = rng.integers(0, int(kind[6:]), shp).astype(dt)
            elif kind == "pos":
                res[k] = (rng.random(shp) + 0.5).astype(dt)
            elif kind == "prob":
                a = rng.random(shp) + 0.1
                res[k] = (a / a.sum(-1, keepdims=True)).astype(dt)
            else:
                res[k] = rng.standard_normal(shp).astype(dt)
        return res

    return g, outs, feeds


def _p(shape, dt="float32", kind="normal"):
    return (shape, dt, kind)


EXTRA = {
    "reshape-swap-symbols": ({"x": _p(("N", "M", 4))}, lambda x: gn.reshape(x, (x.shape[1], x.shape[0], 4))),
    "reshape-middle": ({"x": _p(("N", 6))}, lambda x: gn.reshape(x, (2, x.shape[0], 3))),
    "slice-mixed": ({"x": _p(("N", 5, 6))}, lambda x: x[None, :, 1, ::-2]),
    "slice-reverse": ({"x": _p(("N", 5))}, lambda x: x[:, 3:0:-1]),
    "slice-last": ({"x": _p(("N", 5))}, lambda x: x[..., -1]),
    "broadcast_to-symbolic": ({"x": _p((1, 3)), "y": _p(("N", 3))}, lambda x, y: gn.broadcast_to(x, (y.shape[0], 3)) + y),
    "prelu-broadcast-slope": ({"x": _p(("N", 1)), "s": _p((3,), kind="pos")}, lambda x, s: gn.prelu(x, s)),
    "softmax-axis0": ({"x": _p(("N", 3))}, lambda x: gn.softmax(x, axis=0)),
    "one_hot-int32": ({"y": _p(("N",), "int32", "label:4")}, lambda y: gn.one_hot(y, 4, "float64")),
    "maxout-symbolic": ({"x": _p(("N", 6))}, lambda x: gn.maxout(x, 2)),
    "cross_entropy-axis0": ({"p": _p((4, "N"), kind="normal"), "y": _p(("N",), "int64", "label:4")},
                            lambda p, y: gn.cross_entropy(gn.softmax(p, axis=0), y, axis=0, reduction="none")),
    "cross_entropy-rank3": ({"p": _p(("N", 3, 4)), "y": _p(("N", 3), "int64", "label:4")},
                            lambda p, y: gn.cross_entropy(gn.softmax(p), y, reduction="sum")),
    "cross_entropy-one-row": ({"p": _p((4,), kind="prob"), "y": _p((), "int64", "label:4")},
                              lambda p, y: gn.cross_entropy(p, y, reduction="none")),
    "mse-none": ({"p": _p(("N", 3)), "t": _p(("N", 3))}, lambda p, t: gn.mse(p, t, reduction="none")),
    "kl_div-sum": ({"p": _p(("N", 3), kind="prob"), "q": _p(("N", 3), kind="prob")},
                   lambda p, q: gn.kl_div(p, q, reduction="sum")),
    "sum-all-int": ({"x": _p(("N", 3), "int64", "label:9")}, lambda x: gn.sum(x)),
    "mean-keepdims": ({"x": _p(("N", 3, 4))}, lambda x: gn.mean(x, axis=(0, 2), keepdims=True)),
}
EXTRA_OPS = ["conv2d", "max_pool2d", "batch_norm_infer", "layer_norm", "cond"]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", sorted(EXTRA))
def test_extra_case_matches_onnxruntime(name: str, opset: int) -> None:
    specs, fn = EXTRA[name]
    g, outs, feeds = _build(specs, fn)
    need = max((LOWERINGS[n.op].min_opset for n in gn.onnx.prepare(g, outs).nodes if n.op in LOWERINGS),
               default=MIN_OPSET)
    if need > opset:
        with pytest.raises(gn.GraphError, match=f"needs opset >= {need}"):
            gn.onnx.export(g, None, outputs=outs, opset=opset, check_parity=False, allow_training_ops=True)
        return
    export_and_compare(g, outs, feeds, opset=opset, allow_training_ops=True)


def _cnn(p: float = 0.5) -> tuple[gn.Graph, dict]:
    r = np.random.default_rng(0)
    with gn.Graph("cnn") as g:
        x = gn.input("x", (None, 2, 8, 8))
        w = gn.param("w", (4, 2, 3, 3), init=r.standard_normal((4, 2, 3, 3)).astype("float32"))
        h = gn.conv2d(x, w, stride=1, padding=1)
        vec = lambda n, lo: gn.param(n, (4,), init=(r.random(4) + lo).astype("float32"))
        h = gn.batch_norm(h, vec("gamma", 0.5), vec("beta", 0), gn.state("rm", (4,), init=r.random(4).astype("float32")),
                          gn.state("rv", (4,), init=(r.random(4) + 0.5).astype("float32"))).y
        h = gn.max_pool2d(gn.relu(h), 2)
        h = gn.dropout(h, p)
        f = h.reshape(-1, 64)
        f = gn.layer_norm(f, gn.param("lg", (64,), init=r.random(64).astype("float32")),
                          gn.param("lb", (64,), init=r.random(64).astype("float32")), axis=1)
        s = gn.sum(f, axis=1)
        out = gn.cond(gn.sum(s) > 60.0, lambda a: a * 2.0, lambda a: a - 1.0, s)
    return g, {"out": out, "features": f}


def test_cnn_with_norms_dropout_and_cond() -> None:
    g, outs = _cnn()

    def feeds(size: int) -> dict:
        return {"x": np.random.default_rng(size).standard_normal((size, 2, 8, 8)).astype("float32")}

    rep = export_and_compare(g, outs, feeds)
    ops = {n.op_type for n in rep.model.graph.node}
    assert {"Conv", "BatchNormalization", "MaxPool", "LayerNormalization", "If"} <= ops
    assert "Dropout" not in ops  # eval mode: dropout is gone


@pytest.mark.parametrize("axis", [1, 2])
def test_batch_norm_infer_any_axis(axis: int) -> None:
    from graphnn.ir.ops.norm import batch_norm_infer

    r = np.random.default_rng(1)
    with gn.Graph("bn") as g:
        x = gn.input("x", (None, 3, 3))
        vec = [gn.param(f"v{i}", (3,), init=(r.random(3) + 0.5).astype("float32")) for i in range(4)]
        y = batch_norm_infer(x, *vec, eps=1e-3, axis=axis)
    export_and_compare(g, {"y": y}, lambda n: {"x": r.standard_normal((n, 3, 3)).astype("float32")})


def test_docs_table_lists_every_op() -> None:
    import pathlib

    doc = (pathlib.Path(__file__).resolve().parents[3] / "docs" / "onnx.md").read_text()
    missing = [op for op in list(registry()) + list(LOWERINGS) if f"| `{op}`" not in doc]
    assert not missing, f"docs/onnx.md lacks rows for {missing}"


@pytest.mark.parametrize("opset", sorted({*OPSETS, 18}))
def test_maxout_output_shape_is_inferred_at_every_opset(opset: int) -> None:
    # ReduceMax takes axes as an attribute before opset 18; Reshape-13 inference needs a constant target shape.
    with gn.Graph("mo") as g:
        x = gn.input("x", (None, 6))
        mo = gn.maxout(x, 2)
    rep = gn.onnx.export(g, None, outputs={"maxout": mo}, opset=opset)
    assert "onnx.shape_inference: 1 output type(s) equal graphnn's" in rep.checks
    node = {n.op_type: n for n in rep.model.graph.node}["ReduceMax"]
    assert (len(node.input) == 2) == (opset >= 18) and any(a.name == "axes" for a in node.attribute) == (opset < 18)
