"""Generated CUDA source: one ElementwiseKernel per fused chain, expressions and dtypes as the type rules
say, stable activations; the C-subset checker rejects what NVRTC would reject."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.backends.cupy.cuda_source import body_source, fused_source, literal, unary_source
from tests.backends.cupy.cinterp import CSyntaxError, run_operation
from tests.backends.cupy.standin import ElementwiseKernel

from .conftest import to_host


def _bias_relu(dtype: str) -> tuple[gn.Graph, gn.Value]:
    with gn.Graph("bias_relu") as g:
        x = gn.input("x", ("batch", 5), dtype)
        b = gn.param("b", (5,), dtype, init=np.linspace(-1, 1, 5).astype(dtype))
        y = gn.relu(x + b) * 2.0
    return g, y


@pytest.mark.parametrize("dtype,ctype,two", [("float32", "float", "2.0f"), ("float64", "double", "2.0")])
def test_bias_add_relu_is_one_kernel(dtype: str, ctype: str, two: str, standin) -> None:
    g, y = _bias_relu(dtype)
    fn = gn.compile(g, outputs={"y": y}, backend="cupy")
    fused = [n for n in fn.graph.nodes if n.op == "fused_elementwise"]
    assert len(fused) == 1 and len(fn.graph.nodes) == 1
    src = fused_source(fused[0])
    assert src.in_params == f"{dtype} in0, {dtype} in1" and src.out_params == f"{dtype} out0"
    assert f"const {ctype} t0 = (in0 + in1);" in src.operation
    assert "t1 = (((t0 > " in src.operation and "|| (t0 != t0)) ? t0 : " in src.operation  # relu, NaN kept
    assert f"(t1 * {two})" in src.operation and src.operation.endswith("out0 = t2;")
    X = np.random.default_rng(0).standard_normal((4, 5)).astype(dtype)
    before = standin.STATS.kernels
    out = fn(x=X)["y"]
    assert standin.STATS.kernels - before == 1  # the whole chain is one launch
    np.testing.assert_allclose(to_host(out), np.maximum(X + g.storage["b"], 0) * 2, rtol=1e-6)
    assert to_host(out).dtype == dtype


def test_literals_carry_their_dtype() -> None:
    assert literal(0.5, "float32") == "0.5f" and literal(0.5, "float64") == "0.5"
    assert literal(3, "int64") == "((long long)3LL)" and literal(True, "bool") == "true"
    assert literal(float("inf"), "float32") == "(1.0f / 0.0f)" and literal(-float("inf"), "float64") == "(-1.0 / 0.0)"
    # a float32 constant prints at double precision but parses back to the same float
    assert np.float32(float(literal(np.float32(0.1), "float32")[:-1])) == np.float32(0.1)


def test_comparison_cast_where_and_int_chain() -> None:
    body = (("greater", (), (("in", 0), ("c", 0.0, "float32"))),
            ("cast", (("dtype", "float32"),), (("t", 0),)),
            ("where", (), (("t", 0), ("in", 0), ("c", -1.0, "float32"))),
            ("add", (), (("t", 1), ("t", 2))))
    src = body_source(body, ["float32"])
    assert "const bool t0 = (in0 > 0.0f);" in src.operation
    assert "const float t1 = (float)(t0);" in src.operation
    assert "const float t2 = (t0 ? in0 : -1.0f);" in src.operation
    x = np.array([-2.0, 0.0, 3.0], np.float32)
    out = ElementwiseKernel(*src.args())(_dev(x))
    np.testing.assert_array_equal(to_host(out), np.where(x > 0, x + 1, -1.0).astype(np.float32))
    isrc = body_source((("mul", (), (("in", 0), ("c", 3, "int64"))), ("neg", (), (("t", 0),))), ["int64"])
    assert "const long long t0 = (in0 * ((long long)3LL));" in isrc.operation and isrc.out_params == "int64 out0"


def _dev(a: np.ndarray):
    from tests.backends.cupy.standin import asarray

    return asarray(a)


def test_sigmoid_softplus_sources_are_stable() -> None:
    for op, ref in [("sigmoid", lambda x: np.exp(-np.logaddexp(0, -x))),
                    ("softplus", lambda x: np.logaddexp(0, x))]:
        src = unary_source(op, "float32")
        assert "exp(-fabs(in0))" in src.operation  # exp never sees a large positive argument
        x = np.array([-1000.0, -30.0, -1.0, 0.0, 2.0, 30.0, 1000.0], np.float32)
        y = to_host(ElementwiseKernel(*src.args())(_dev(x)))
        assert np.all(np.isfinite(y)) and y.dtype == np.float32
        np.testing.assert_allclose(y, ref(x.astype(np.float64)), rtol=1e-6, atol=1e-30)


def test_maximum_propagates_nan_like_numpy() -> None:
    src = body_source((("maximum", (), (("in", 0), ("in", 1))),), ["float64", "float64"])
    a = np.array([1.0, np.nan, 2.0]); b = np.array([np.nan, 0.0, 1.0])
    np.testing.assert_array_equal(to_host(ElementwiseKernel(*src.args())(_dev(a), _dev(b))), np.maximum(a, b))


@pytest.mark.parametrize("operation,msg", [
    ("out0 = expf(in0);", "unknown function"),
    ("out0 = in0 + y;", "unknown name"),
    ("out0 = (in0 + 1.0f;", "expected"),
    ("out0 = in0", "must end with ';'"),
    ("const float t = in0; const float t = in0; out0 = t;", "redeclaration"),
    ("const float t = in0;", "never assigned"),
    ("out0 = in0 $ 2;", "unexpected character"),
])
def test_checker_rejects_what_would_not_compile(operation: str, msg: str) -> None:
    with pytest.raises(CSyntaxError, match=msg):
        run_operation(operation, {"in0": np.ones(2, np.float32)}, {"out0": np.empty(2, np.float32)})


def test_kernel_declared_dtypes_are_enforced() -> None:
    k = ElementwiseKernel("float32 in0", "float32 out0", "out0 = in0;", "copy")
    with pytest.raises(TypeError, match="declares float32"):
        k(_dev(np.ones(2, np.float64)))
    with pytest.raises(TypeError, match="NumPy array"):
        k(np.ones(2, np.float32))  # a host array handed to a device kernel


# ---- random fused chains: the generated C (run by the checker/evaluator) equals the NumPy fused kernel --------
_UN = {"neg": gn.neg, "abs": gn.abs, "tanh": gn.tanh, "relu": gn.relu, "sign": gn.sign,
       "exp": lambda v: gn.exp(gn.tanh(v)), "log": lambda v: gn.log(gn.abs(v) + 1.0),
       "sqrt": lambda v: gn.sqrt(gn.abs(v)), "sq": lambda v: v ** 2.0, "half": lambda v: v / 2.0}
_BIN = {"add": gn.add, "sub": gn.sub, "mul": gn.mul, "maximum": gn.maximum, "minimum": gn.minimum,
        "where": lambda a, b: gn.where(gn.greater(a, b), a, b - 1.0),
        "mask": lambda a, b: a * gn.cast(gn.less_equal(b, 0.25), a.dtype)}


def _chain(dtype: str, steps: list) -> tuple[gn.Graph, gn.Value]:
    with gn.Graph("chain") as g:
        vals = [gn.input("a", ("batch", 4), dtype), gn.input("b", (4,), dtype)]
        for kind, name, i, j in steps:
            # each step reads the previous one, so the program is one connected chain
            if kind == "u":
                vals.append(_UN[name](vals[-1]))
            else:
                a, b = vals[-1], vals[j % len(vals)]
                vals.append(_BIN[name](a, b) if i % 2 else _BIN[name](b, a))
    return g, vals[-1]


_step = st.one_of(st.tuples(st.just("u"), st.sampled_from(sorted(_UN)), st.integers(0, 20), st.just(0)),
                  st.tuples(st.just("b"), st.sampled_from(sorted(_BIN)), st.integers(0, 20), st.integers(0, 20)))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["float32", "float64"]), st.lists(_step, min_size=2, max_size=9))
def test_random_fused_chains_match_numpy(dtype: str, steps: list) -> None:
    from graphnn.backends.cupy import backend as cupy_backend
    from tests.backends.cupy.standin import cupy as standin_cupy

    g, out = _chain(dtype, steps)
    rng = np.random.default_rng(len(steps))
    A = rng.standard_normal((3, 4)).astype(dtype)
    B = rng.standard_normal(4).astype(dtype)
    want = gn.compile(g, outputs={"o": out})(a=A, b=B)["o"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cupy_backend, "load_cupy", lambda: standin_cupy)
        fn = gn.compile(g, outputs={"o": out}, backend="cupy")
        got = to_host(fn(a=A, b=B)["o"])
    assert got.dtype == want.dtype and got.shape == want.shape
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
