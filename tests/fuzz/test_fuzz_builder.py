"""Property: a builder call with arbitrary arguments either adds its node(s) or raises a graphnn error that
names the user's line, and a failed call leaves the graph exactly as it was; never a hang."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphnn as gn
from tests.fuzz.conftest import only_graphnn_errors, time_limit

FUNCS = ["add", "sub", "mul", "div", "matmul", "maximum", "where", "relu", "exp", "log", "sqrt", "tanh", "sigmoid",
         "softmax", "log_softmax", "sum", "mean", "max", "argmax", "reshape", "transpose", "broadcast_to", "concat",
         "cast", "cross_entropy", "binary_cross_entropy", "mse", "one_hot", "dropout", "layer_norm", "leaky_relu",
         "pow", "abs", "equal", "less"]

SHAPES = [(), (3,), (2, 3), (None, 3), ("n", 3), (2, 3, 4), (0, 3)]
DTYPES = ["float32", "float64", "int64", "bool", "float16"]


def fingerprint(g: gn.Graph) -> tuple:
    return ([str(v.type) for v in g.inputs + g.params + g.state + g.const_values], len(g.nodes),
            sorted(g.storage.keys()), dict(g.dim_alias), sorted(g.names), repr(sorted(g.meta.items())),
            sorted(g.constants))


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-3, 3), st.sampled_from(
    [float("nan"), float("inf"), 2**70, -1, 1.5, "x", "float32", "int64", "mean", (), (0,), (1, -1), (-1,),
     ("n", 3), (2, 3), (3, 2), [0, 1], (None,), b"x"]))


@st.composite
def arg(draw: Any, vals: list) -> Any:
    if draw(st.booleans()):
        return draw(st.sampled_from(vals))
    if draw(st.integers(0, 5)) == 0:
        return np.ones(draw(st.sampled_from([(3,), (2, 3), (3, 3)])), draw(st.sampled_from(DTYPES)))
    return draw(scalars)


@st.composite
def call(draw: Any) -> tuple:
    specs = draw(st.lists(st.tuples(st.sampled_from(SHAPES), st.sampled_from(DTYPES)), min_size=1, max_size=3))
    fn = draw(st.sampled_from(FUNCS))
    n_args = draw(st.integers(0, 3))
    kw_names = draw(st.lists(st.sampled_from(["axis", "p", "reduction", "dtype", "keepdims", "eps"]), max_size=2,
                             unique=True))
    return specs, fn, n_args, kw_names, draw(st.data())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(call())
def test_builder_calls_are_atomic_and_closed(c: tuple) -> None:
    specs, fn_name, n_args, kw_names, data = c
    with gn.Graph("fuzz") as g:
        vals = [gn.input(f"i{k}", s, d) for k, (s, d) in enumerate(specs)]
        args = [vals[0]] + [data.draw(arg(vals)) for _ in range(n_args)]
        kw = {k: data.draw(arg(vals)) for k in kw_names}
        try:  # a call Python itself rejects (wrong arity, unknown keyword) is not the builder's business
            inspect.signature(getattr(gn, fn_name)).bind(*args, **kw)
        except TypeError:
            return
        before = fingerprint(g)
        try:
            with time_limit(5):
                getattr(gn, fn_name)(*args, **kw)  # the user's line
        except Exception as e:  # noqa: BLE001 - the property is about which exceptions appear
            only_graphnn_errors(e)
            assert fingerprint(g) == before, f"{fn_name} failed but changed the graph"
            assert "test_fuzz_builder.py:" in str(e), f"no user line in: {e}"
