"""Gradient rules on random shapes and broadcasting patterns (vs float64 finite differences), and the
documented rules at kinks and ties (vs values written out by hand)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import graphnn as gn

TOL = 1e-6
SEEDS = range(3)


def _shape(rng: np.random.Generator, rank: int) -> tuple[int, ...]:
    return tuple(int(d) for d in rng.integers(1, 4, size=rank))


def _bcast_pair(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast: b drops leading dims and/or has 1s where a does not."""
    a = _shape(rng, int(rng.integers(1, 4)))
    b = list(a[int(rng.integers(0, len(a) + 1)):])
    for i in range(len(b)):
        if rng.random() < 0.4:
            b[i] = 1
    if rng.random() < 0.5:
        return a, tuple(b)
    return tuple(b), a


def _away(rng: np.random.Generator, shape: tuple[int, ...], lo: float = 0.1, hi: float = 2.0) -> np.ndarray:
    """Values with |x| in [lo, hi]: no kink at 0 within a finite-difference step."""
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def _apart(rng: np.random.Generator, sa: tuple, sb: tuple) -> tuple[np.ndarray, np.ndarray]:
    """a and b whose broadcast difference is never near 0 (maximum/minimum kinks); both sides win."""
    return _away(rng, sa, 1.0, 2.0), rng.uniform(-0.5, 0.5, sb)


Maker = Callable[[np.random.Generator], list[np.ndarray]]


def _binary(lo_b: float | None = None) -> Maker:
    def make(rng: np.random.Generator) -> list[np.ndarray]:
        sa, sb = _bcast_pair(rng)
        b = _away(rng, sb, lo_b or 0.1) if lo_b else rng.standard_normal(sb)
        return [rng.standard_normal(sa), b]

    return make


def _unary(kind: str = "normal") -> Maker:
    def make(rng: np.random.Generator) -> list[np.ndarray]:
        s = _shape(rng, int(rng.integers(0, 4)))
        if kind == "pos":
            return [rng.uniform(0.2, 2.0, s)]
        if kind == "away":
            return [_away(rng, s)]
        return [rng.standard_normal(s)]

    return make


def _maxmin(rng: np.random.Generator) -> list[np.ndarray]:
    sa, sb = _bcast_pair(rng)
    return list(_apart(rng, sa, sb))


def _pow(rng: np.random.Generator) -> list[np.ndarray]:
    sa, sb = _bcast_pair(rng)
    return [rng.uniform(0.3, 2.0, sa), rng.standard_normal(sb)]


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.3 - n * 0.15 + rng.uniform(-0.05, 0.05, n)).reshape(shape)


def _reduce_axes(rng: np.random.Generator) -> tuple[np.ndarray, Any, bool]:
    s = _shape(rng, int(rng.integers(1, 4)))
    axes = tuple(i for i in range(len(s)) if rng.random() < 0.5) or None
    return _distinct(rng, s), axes, bool(rng.random() < 0.5)


def _mm(rng: np.random.Generator) -> list[np.ndarray]:
    k, m, n = (int(d) for d in rng.integers(1, 4, 3))
    batch_a, batch_b = _bcast_pair(rng) if rng.random() < 0.5 else ((), ())
    ra, rb = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    a = (k,) if ra == 0 else batch_a + (m, k)
    b = (k,) if rb == 0 else batch_b + (k, n)
    return [rng.standard_normal(a), rng.standard_normal(b)]


OPS: dict[str, tuple[Callable[..., gn.Value], Maker]] = {
    "add": (gn.add, _binary()),
    "sub": (gn.sub, _binary()),
    "mul": (gn.mul, _binary()),
    "div": (gn.div, _binary(lo_b=0.3)),
    "pow": (gn.pow, _pow),
    "maximum": (gn.maximum, _maxmin),
    "minimum": (gn.minimum, _maxmin),
    "neg": (gn.neg, _unary()),
    "abs": (gn.abs, _unary("away")),
    "exp": (gn.exp, _unary()),
    "log": (gn.log, _unary("pos")),
    "sqrt": (gn.sqrt, _unary("pos")),
    "relu": (gn.relu, _unary("away")),
    "sigmoid": (gn.sigmoid, _unary()),
    "tanh": (gn.tanh, _unary()),
    "softplus": (gn.softplus, _unary()),
    "leaky_relu": (lambda x: gn.leaky_relu(x, 0.3), _unary("away")),
    "identity": (gn.identity, _unary()),
    "prelu": (gn.prelu, lambda rng: [_away(rng, (2, 3)), rng.uniform(0.1, 0.5, (3,))]),
    "where": (lambda c, a, b: gn.where(c > 0, a, b),
              lambda rng: [rng.standard_normal((2, 3)), rng.standard_normal((3,)), rng.standard_normal((2, 1))]),
    "cast": (lambda x: gn.cast(x, "float64") * x, _unary()),
    "sum": (None, None), "mean": (None, None), "max": (None, None), "min": (None, None),  # see below
    "reshape": (lambda x: gn.reshape(x, (-1,)), _unary()),
    "transpose": (lambda x: gn.transpose(x), _unary()),
    "broadcast_to": (lambda x: gn.broadcast_to(x, (2,) + x.shape[:-1] + (3,)),
                     lambda rng: [rng.standard_normal(_shape(rng, int(rng.integers(0, 3))) + (1,))]),
    "matmul": (gn.matmul, _mm),
    "softmax": (lambda x: gn.softmax(x, axis=0), lambda rng: [rng.standard_normal(_shape(rng, 2))]),
    "log_softmax": (lambda x: gn.log_softmax(x, axis=-1), lambda rng: [rng.standard_normal(_shape(rng, 3))]),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", [k for k, v in OPS.items() if v[0] is not None])
def test_op_gradient_random_shapes(name: str, seed: int) -> None:
    fn, make = OPS[name]
    rng = np.random.default_rng(1000 * seed + len(name))
    arrays = make(rng)
    gn.check_grad(fn, *arrays, disconnected="ignore", tol=TOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_reduction_gradient_random_axes(op: str, seed: int) -> None:
    x, axes, keep = _reduce_axes(np.random.default_rng(seed))
    f = getattr(gn, op)
    gn.check_grad(lambda v: f(v, axis=axes, keepdims=keep), x, tol=TOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_slice_concat_random(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 5, 3))
    gn.check_grad(lambda v: v[int(rng.integers(-4, 4)), 1::2, None], x, tol=TOL)
    gn.check_grad(lambda v: v[::-2, :3, -1:], x, tol=TOL)
    a, b, c = (rng.standard_normal((2, int(rng.integers(1, 4)), 3)) for _ in range(3))
    gn.check_grad(lambda p, q, r: gn.concat([p, q, r, p], axis=1), a, b, c, tol=TOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_losses_random(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 5)), int(rng.integers(2, 5))
    labels = rng.integers(0, k, n)
    p = rng.uniform(0.1, 1.0, (n, k))
    for red in ("mean", "sum", "none"):
        gn.check_grad(lambda q, y: gn.cross_entropy(q, y, reduction=red), p, labels, tol=TOL)
        gn.check_grad(lambda q, y: gn.cross_entropy(q, y, axis=0, reduction=red), p.T, labels, tol=TOL)
        gn.check_grad(lambda q, t: gn.cross_entropy(q, t, reduction=red), p, rng.uniform(0, 1, (n, k)), tol=TOL)
        gn.check_grad(lambda q, t: gn.binary_cross_entropy(q, t, reduction=red),
                      rng.uniform(0.1, 0.9, (n, k)), rng.uniform(0, 1, (n, k)), tol=TOL)
        gn.check_grad(lambda q, t: gn.mse(q, t, reduction=red), rng.standard_normal((n, k)),
                      rng.standard_normal((n, k)), tol=TOL)
        t = rng.standard_normal((n, k))
        gn.check_grad(lambda q, t: gn.mae(q, t, reduction=red), t + _away(rng, (n, k)), t, tol=TOL)
        gn.check_grad(lambda q, r: gn.kl_div(q, r, reduction=red), p, rng.uniform(0.1, 1.0, (n, k)), tol=TOL)


def test_maxout_random() -> None:
    rng = np.random.default_rng(0)
    gn.check_grad(lambda v: gn.maxout(v, 3, axis=1), _distinct(rng, (2, 6, 2)), tol=TOL)
    gn.check_grad(lambda v: gn.maxout(v, 2), _distinct(rng, (3, 4)), tol=TOL)


# ---- documented rules at kinks and ties (exact values, by hand) ------------------------------------------
def _grad_at(f: Callable[..., gn.Value], *arrays: np.ndarray) -> list[np.ndarray]:
    with gn.Graph("kink") as g:
        xs = [gn.input(f"x{i}", a.shape, "float64") for i, a in enumerate(arrays)]
        gs = gn.grad(gn.sum(f(*xs)), xs, disconnected="zeros")
    out = gn.compile(g, outputs={f"g{i}": v for i, v in enumerate(gs)})(**{f"x{i}": a for i, a in enumerate(arrays)})
    return [out[f"g{i}"] for i in range(len(arrays))]


def test_relu_and_abs_have_zero_gradient_at_zero() -> None:
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(_grad_at(gn.relu, x)[0], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(_grad_at(gn.abs, x)[0], [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(_grad_at(lambda v: gn.leaky_relu(v, 0.1), x)[0], [0.1, 0.1, 1.0])


def test_maximum_minimum_ties_go_to_a() -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    ga, gb = _grad_at(gn.maximum, a, b)
    np.testing.assert_array_equal(ga, [1, 0, 1])
    np.testing.assert_array_equal(gb, [0, 1, 0])
    ga, gb = _grad_at(gn.minimum, a, b)
    np.testing.assert_array_equal(ga, [1, 1, 0])
    np.testing.assert_array_equal(gb, [0, 0, 1])


def test_max_min_reductions_split_ties_evenly() -> None:
    x = np.array([[3.0, 1.0, 3.0, 3.0], [0.0, 2.0, -1.0, 2.0]])
    np.testing.assert_allclose(_grad_at(lambda v: gn.max(v, axis=1), x)[0], [[1 / 3, 0, 1 / 3, 1 / 3], [0, .5, 0, .5]])
    np.testing.assert_allclose(_grad_at(lambda v: gn.min(v), x)[0], np.where(x == -1.0, 1.0, 0.0))


def test_maxout_routes_to_first_max_on_ties() -> None:
    x = np.array([[2.0, 2.0, 1.0, 0.0, 5.0, 5.0]])
    np.testing.assert_array_equal(_grad_at(lambda v: gn.maxout(v, 2), x)[0], [[1, 0, 1, 0, 1, 0]])


def test_where_routes_by_condition() -> None:
    c, a, b = np.array([1.0, -1.0, 0.0]), np.array([10.0, 20.0, 30.0]), np.array([7.0])
    _, ga, gb = _grad_at(lambda cv, av, bv: gn.where(cv > 0, av, bv) * av, c, a, b)
    # out = [a0 * a0, b * a1, b * a2]: a gets 2 a0 where chosen and b (through the product) elsewhere;
    # b gets a1 + a2 from the two positions the condition routes to it.
    np.testing.assert_array_equal(ga, [20.0, 7.0, 7.0])
    np.testing.assert_array_equal(gb, [50.0])


def test_every_op_declares_gradient_or_reason() -> None:
    from graphnn.ir.op_registry import registry

    for name, op in registry().items():
        assert (op.grad is None) != (op.nondiff is None), f"{name}: exactly one of grad= and nondiff= must be set"
