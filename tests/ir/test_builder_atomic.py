"""A failed builder call leaves the graph exactly as it was (types, dims, state, constants, nodes, names,
storage), raises a graphnn error (never a Python exception from inside) and names the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn import nn


def fingerprint(g: gn.Graph) -> tuple:
    """Everything a builder call may touch, compared by value."""
    return ([str(v.type) for v in g.inputs + g.params + g.state + g.const_values], len(g.nodes),
            sorted(g.storage.keys()), dict(g.dim_alias), sorted(g.names), repr(sorted(g.meta.items())),
            sorted(g.param_info), sorted(g.constants))


def graph() -> tuple[gn.Graph, gn.Value]:
    with gn.Graph("atomic") as g:
        a = gn.input("a", (None, 4))
        gn.relu(a)
    return g, a


BAD_CALLS = [
    ("broadcast_to symbolic", lambda a: gn.broadcast_to(a, ("n", 3)), gn.ShapeError),
    ("dropout p", lambda a: gn.dropout(a, 1.5), gn.ShapeError),
    ("dropout p str", lambda a: gn.dropout(a, "half"), gn.GraphError),
    ("layer_norm axis", lambda a: gn.layer_norm(a, axis=3), gn.ShapeError),
    ("add mismatched", lambda a: a + np.ones((3, 3), np.float32), gn.ShapeError),
    ("matmul", lambda a: a @ np.ones((3, 2), np.float32), gn.ShapeError),
    ("reshape", lambda a: gn.reshape(a, (7, 7)), gn.ShapeError),
    ("int array", lambda a: gn.add(a, np.ones(4, np.int64)), gn.DTypeError),
    ("param symbolic", lambda a: gn.param("p", ("k", 2), init=gn.init.zeros()), gn.ShapeError),
    ("param dup", lambda a: gn.param("a", (2,), init=gn.init.zeros()), gn.GraphError),
    ("param bad init", lambda a: gn.param("q", (2,), init=np.ones(3)), gn.ShapeError),
    ("state bad dtype", lambda a: gn.state("s", (2,), "complex128"), gn.GraphnnError),
    ("constant bad", lambda a: gn.constant(np.array(["x"])), gn.GraphnnError),
    ("layer wrong width", lambda a: nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(5))(a), gn.ShapeError),
    ("layer wrong input", lambda a: nn.Linear(5, 2)(a), gn.ShapeError),
    ("softmax axis", lambda a: gn.softmax(a, axis=5), gn.ShapeError),
]


@pytest.mark.parametrize("call, err", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_failed_call_changes_nothing_and_names_the_line(call, err) -> None:
    g, a = graph()
    before = fingerprint(g)
    with g:
        with pytest.raises(err) as e:
            call(a)
    assert fingerprint(g) == before
    assert "test_builder_atomic.py:" in str(e.value)


def test_graph_still_usable_after_failures() -> None:
    g, a = graph()
    with g:
        for _, call, err in BAD_CALLS:
            with pytest.raises(err):
                call(a)
        net = nn.Sequential(nn.Linear(4, 3, init=gn.init.constant(0.5)), nn.BatchNorm1d(3))
        y = net(a)
        g.output("y", gn.dropout(y, 0.0))
    X = np.ones((2, 4), np.float32)
    out = gn.compile(g, mode="eval")(a=X)["y"]
    np.testing.assert_allclose(out, np.full((2, 3), 2.0 / np.sqrt(1 + 1e-5)), rtol=1e-5)
    assert [p.name for p in g.params] == ["sequential/linear/w", "sequential/linear/b",
                                          "sequential/batch_norm1d/gamma", "sequential/batch_norm1d/beta"]


def test_layer_that_failed_can_be_called_again_correctly() -> None:
    g, a = graph()
    lin = nn.Linear(None, 2)
    with g:
        with pytest.raises(gn.GraphnnError):
            lin(gn.reshape(a, (7, 7)))
        out = lin(a)
    assert out.shape[1] == 2 and lin.params[0].shape == (4, 2)
