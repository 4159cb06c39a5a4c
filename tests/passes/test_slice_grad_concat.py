"""Gradients of disjoint slices of one axis are put side by side (concat, zero pieces only for gaps) instead of
zero-padded arrays added together: values against NumPy written plainly, float64 finite differences to second
order, and the nodes the backward emits."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.passes.autodiff import expand_gradients

RNG = np.random.default_rng(5)
# (ranges on the last axis of an 8-wide value, weight per range): full cover, cover with a gap, overlap
LAYOUTS = {
    "full": [(0, 2), (2, 5), (5, 8)],
    "gap": [(6, 8), (0, 2), (3, 4)],
    "overlap": [(0, 4), (2, 6), (6, 8)],
}


def _loss(z: gn.Value, ranges: list[tuple[int, int]]) -> gn.Value:
    return sum((gn.sum(gn.tanh(z[:, a:b]) * float(k + 1)) for k, (a, b) in enumerate(ranges)), gn.constant(0.0, dtype=z.dtype))


def _np_grad(z: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    g = np.zeros_like(z)
    for k, (a, b) in enumerate(ranges):
        g[:, a:b] += (k + 1) * (1 - np.tanh(z[:, a:b]) ** 2)
    return g


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_values_and_emitted_nodes(layout: str) -> None:
    ranges = LAYOUTS[layout]
    with gn.Graph("s") as g:
        z = gn.input("z", (None, 8), "float64")
        (gz,) = gn.grad(_loss(z, ranges), [z])
    ops = [n.op for n in expand_gradients(g.copy()).nodes]
    assert "concat" in ops  # overlap: (6, 8) and (2, 6) still meet side by side; (0, 4) is then added
    Z = RNG.standard_normal((3, 8))
    got = gn.compile(g, outputs={"gz": gz})(z=Z)["gz"]
    np.testing.assert_allclose(got, _np_grad(Z, ranges), rtol=1e-12, atol=1e-14)


def test_full_cover_gradient_is_a_concat_in_the_compiled_graph() -> None:
    with gn.Graph("s") as g:
        z = gn.input("z", (None, 8))
        (gz,) = gn.grad(_loss(z, LAYOUTS["full"]), [z])
        g.output("gz", gz)
    final = expand_gradients(g.copy()).outputs["gz"].producer
    while final is not None and final.op == "identity":  # the gradient's name
        final = final.inputs[0].producer
    assert final is not None and final.op == "concat"


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_first_and_second_order_by_finite_differences(layout: str) -> None:
    ranges = LAYOUTS[layout]
    Z = RNG.standard_normal((2, 8))
    gn.check_grad(lambda z: _loss(z, ranges), Z, tol=1e-6)

    def grad_norm(z: gn.Value) -> gn.Value:
        (gz,) = gn.grad(_loss(z, ranges), [z])
        return gn.sum(gz * gz)

    gn.check_grad(grad_norm, Z, tol=1e-6)


@pytest.mark.parametrize("picks", [(2, 0, 1), (2, 0), (-1, 1)])
def test_integer_picks_of_one_axis_are_stacked(picks: tuple[int, ...]) -> None:
    """q, k, v = qkv[0], qkv[1], qkv[2] (a packed projection): the gradient is one stack, zeros where unpicked."""
    with gn.Graph("s") as g:
        z = gn.input("z", (3, None, 4), "float64")
        loss = sum((gn.sum(gn.tanh(z[p]) * float(k + 1)) for k, p in enumerate(picks)), gn.constant(0.0, dtype="float64"))
        (gz,) = gn.grad(loss, [z])
    nodes = expand_gradients(g.copy()).nodes
    assert "concat" in [n.op for n in nodes]
    assert not [n for n in nodes if n.op == "add" and n.outputs[0].ndim == 3]  # no zero-padded arrays added
    Z = RNG.standard_normal((3, 2, 4))
    want = np.zeros_like(Z)
    for k, p in enumerate(picks):
        want[p] += (k + 1) * (1 - np.tanh(Z[p]) ** 2)
    np.testing.assert_allclose(gn.compile(g, outputs={"gz": gz})(z=Z)["gz"], want, rtol=1e-12, atol=1e-14)
    gn.check_grad(lambda v: gn.sum(gn.grad(sum((gn.sum(gn.tanh(v[p]) * float(k + 1)) for k, p in enumerate(picks)),
                                                   gn.constant(0.0, dtype="float64")), [v])[0] ** 2), Z, tol=1e-6)
