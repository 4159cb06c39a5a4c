"""Property: a compiled training step called with arbitrary feeds (shapes, dtypes, NaN, empty, missing or extra
names, non-arrays) either runs or raises a graphnn error, and a failed call leaves parameters and state as
they were; a non-finite loss never reaches them; never a hang."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphnn as gn
from tests.fuzz.conftest import only_graphnn_errors, time_limit


def step() -> tuple[gn.Graph, gn.Function]:
    with gn.Graph("feeds") as g:
        x = gn.input("x", (None, 3))
        y = gn.input("y", (None,), "int64")
        t = gn.input("t", (None, 1))
        w = gn.param("w", (3, 2), init=gn.init.normal(seed=0))
        v = gn.param("v", (3, 1), init=gn.init.normal(seed=1))
        loss = gn.cross_entropy(gn.softmax(x @ w), y) + gn.binary_cross_entropy(gn.sigmoid(x @ v), t)
    return g, gn.compile(g, outputs={"loss": loss}, updates=gn.optim.Adam(0.01).updates(loss))


G, FN = step()

values = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=3), st.lists(st.floats(-2, 2), max_size=3))


@st.composite
def feed(draw: st.DrawFn, name: str) -> object:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(values)
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    if kind == 1 and shape:
        base = np.ones((1,) + shape[1:], np.float32)
        return np.broadcast_to(base, (2**41,) + shape[1:])
    dtype = draw(st.sampled_from(["float32", "float64", "int64", "int32", "bool"]))
    arr = np.asarray(draw(st.lists(st.one_of(st.floats(-3, 3), st.sampled_from([np.nan, np.inf, -np.inf, 2.0])),
                                   min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))).reshape(shape)
    return arr.astype(dtype) if dtype != "int64" else np.nan_to_num(arr).astype(dtype) % 2


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.dictionaries(st.sampled_from(["x", "y", "t", "z"]), st.none(), min_size=0, max_size=4), st.data())
def test_feeds_only_graphnn_errors_and_no_state_change(names: dict, data: st.DataObject) -> None:
    feeds = {k: data.draw(feed(k)) for k in names}
    before = {k: np.array(G.storage[k]) for k in G.storage.keys()}
    try:
        with time_limit(10):
            out = FN(**feeds)  # the user's line
    except Exception as e:  # noqa: BLE001 - the property is about which exceptions appear
        only_graphnn_errors(e)
        assert "test_fuzz_feeds.py:" in str(e), f"no user line in: {e}"
        for k, a in before.items():
            np.testing.assert_array_equal(G.storage[k], a, err_msg=k)
        return
    if not np.isfinite(out["loss"]):
        for k, a in before.items():
            np.testing.assert_array_equal(G.storage[k], a, err_msg=k)
    for k in G.storage.keys():
        assert np.all(np.isfinite(G.storage[k])), k
