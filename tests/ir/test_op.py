"""Op traits say true things: checked against the kernels' behaviour and NumPy itself, op by op, driven by the
conformance cases (so a new op's traits are checked the day it gets its case)."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.numpy import KERNELS
from graphnn.backends.numpy.support import shape_of
from graphnn.ir.op_registry import registry
from graphnn.ir.ops.fused_elementwise import step_dtypes

from ..conformance.cases import CASES, Case, build_case, draw

OPS = registry()


def _run_kernel(case: Case, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """The case's output node run by its plain NumPy kernel on drawn inputs (negative values included)."""
    g, ins, out = build_case(case, "float64")
    rng = np.random.default_rng(seed)
    feeds = [draw(s, 3, rng, "float64" if s.dtype.startswith("float") else None) for s in case.inputs]
    env: dict = {}
    for v, a in zip(ins, feeds):
        for d, n in zip(v.type.shape, np.shape(a)):
            if isinstance(d, str):
                env[d] = env[g.canon_dim(d)] = n
    node = out.producer
    assert node is not None and node.op == case.op
    vals = {v.id: a for v, a in zip(ins, feeds)}
    for n in g.nodes:  # the case may build helper nodes before its op (constants, casts)
        if any(v.id not in vals and v.kind != "const" for v in n.inputs):
            continue
        args = [vals[v.id] if v.id in vals else g.constants[v.id] for v in n.inputs]
        res = KERNELS[n.op](np, n, env)(*args)
        for o, r in zip(n.outputs, res if len(n.outputs) > 1 else (res,)):
            vals[o.id] = np.asarray(r) if not isinstance(r, np.ndarray) else r
    assert shape_of(out.type.shape, env) == vals[out.id].shape
    return [vals[v.id] for v in node.inputs if v.id in vals], vals[out.id]


def _cases(trait: str) -> list[Case]:
    return [c for c in CASES if getattr(OPS[c.op], trait)]


@pytest.mark.parametrize("case", _cases("nonnegative"), ids=lambda c: c.op)
def test_nonnegative_ops_never_return_a_negative(case: Case) -> None:
    for seed in range(3):
        _, res = _run_kernel(case, seed)
        assert np.all((res >= 0) | np.isnan(res)), f"{case.op} (Op.nonnegative) returned {res.min()}"


@pytest.mark.parametrize("case", _cases("view"), ids=lambda c: c.op)
def test_view_ops_return_a_view_of_their_input(case: Case) -> None:
    ins, res = _run_kernel(case)
    assert np.shares_memory(res, ins[0]), f"{case.op} is marked Op.view but its kernel copied"


@pytest.mark.parametrize("case", _cases("keeps_layout"), ids=lambda c: c.op)
def test_layout_keeping_views_of_a_contiguous_input_are_contiguous(case: Case) -> None:
    ins, res = _run_kernel(case)
    assert ins[0].flags.c_contiguous and res.flags.c_contiguous and np.shares_memory(res, ins[0])


def test_layout_changing_views_are_not_marked() -> None:
    """transpose and slice views reorder or skip elements, so the executor must not take them as contiguous."""
    assert OPS["transpose"].view and not OPS["transpose"].keeps_layout
    assert OPS["slice"].view and not OPS["slice"].keeps_layout


def test_label_and_unit_range_traits_drive_the_feed_checks() -> None:
    """Ops with a `labels` input refuse out-of-range class labels, ops with a `unit_range` input refuse targets
    outside [0, 1], before any state changes (independent reference: the sizes written here)."""
    assert {n for n, op in OPS.items() if op.labels is not None} >= {"cross_entropy", "one_hot"}
    assert {n for n, op in OPS.items() if op.unit_range is not None} >= {"binary_cross_entropy"}
    with gn.Graph("traits") as g:
        x = gn.input("x", (None, 3), "float32")
        y = gn.input("y", (None,), "int64")
        t = gn.input("t", (None, 3), "float32")
        ce = gn.cross_entropy(gn.softmax(x), y)
        bce = gn.binary_cross_entropy(gn.sigmoid(x), t)
    fn = gn.compile(g, outputs={"ce": ce, "bce": bce})
    x0, t0 = np.zeros((2, 3), np.float32), np.full((2, 3), 0.5, np.float32)
    assert np.isfinite(fn(x=x0, y=np.array([0, 2]), t=t0)["ce"])
    with pytest.raises(gn.FeedError):
        fn(x=x0, y=np.array([0, 3]), t=t0)  # 3 classes: label 3 is out of range
    with pytest.raises(gn.FeedError):
        fn(x=x0, y=np.array([0, 2]), t=t0 + 1.0)  # BCE targets of 1.5


def test_non_view_shape_ops_copy() -> None:
    """The trait is not set everywhere: concat and unslice must copy (the executor would alias otherwise)."""
    assert not OPS["concat"].view and not OPS["unslice"].view and not OPS["cast"].view


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if op.ufunc), ids=str)
def test_ufunc_trait_names_the_numpy_ufunc_the_builder_maps_back(name: str) -> None:
    uf = getattr(np, OPS[name].ufunc)
    assert isinstance(uf, np.ufunc)
    with gn.Graph("u"):
        xs = [gn.input(f"x{i}", (3,), "float32") for i in range(uf.nin)]
        v = uf(*xs)  # NumPy dispatches to graphnn: the op of the same meaning
    assert v.producer is not None and v.producer.op == name


def test_random_ops_are_the_impure_ones() -> None:
    from graphnn.passes.common_subexpression_elimination import IMPURE

    assert IMPURE == {"dropout"}  # today's only random op; the names CSE once listed (bernoulli, ...) do not exist
    assert all(n in OPS for n in IMPURE)


def test_step_dtypes_follow_the_type_rules() -> None:
    body = (("greater", (), (("in", 0), ("c", 0.0, "float32"))),
            ("cast", (("dtype", "float64"),), (("t", 0),)),
            ("where", (), (("t", 0), ("in", 1), ("c", 0, "int64"))),
            ("mul", (), (("t", 1), ("in", 2))))
    assert step_dtypes(body, ["float32", "int64", "float64"]) == ["bool", "float64", "int64", "float64"]
    with pytest.raises(gn.DTypeError):
        step_dtypes((("add", (), (("in", 0), ("in", 1))),), ["float32", "float64"])
