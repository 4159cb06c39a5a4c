"""Dead-code elimination: nodes reaching no output and no update go, with the constants only they used."""

from __future__ import annotations

import numpy as np

import graphnn as gn

from .util import assert_structure, ops, run_pass


def test_nodes_reaching_no_output_or_update_are_removed() -> None:
    with gn.Graph("before") as g:
        x = gn.input("x", (3,))
        s = gn.state("s", (3,), init=np.zeros(3, np.float32))
        out = gn.exp(x)
        gn.tanh(x) * 5.0  # dead: reaches nothing
        new_s = s + gn.sigmoid(x)  # reaches an update only
    g.updates = {"s": new_s}
    got = run_pass(g, "dead_code", out=out)
    assert ops(got) == ["add", "exp", "sigmoid"]
    assert not got.const_values  # the 5.0 only fed dead code
    with gn.Graph("expected") as e:
        e.output("out", gn.exp(gn.input("x", (3,))))
    assert_structure(got, e)
    assert got.updates["s"].producer.op == "add"
