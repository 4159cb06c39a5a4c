"""Each optimizer's 20-step trajectory against a plain-NumPy implementation of its textbook formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphnn as gn

RNG = np.random.default_rng(7)
X = RNG.normal(size=(16, 3))
Y = RNG.normal(size=(16, 2))
W0 = RNG.normal(size=(3, 2))
B0 = RNG.normal(size=(2,))


def np_grads(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of mean((X w + b - Y)^2) over all elements."""
    r = X @ w + b - Y
    k = 2.0 / r.size
    return k * X.T @ r, k * r.sum(axis=0)


# ---- reference rules: state dict per parameter, returning the new parameter --------------------------
def ref_sgd(lr, **_):
    return lambda p, g, s, t: p - lr * g


def ref_momentum(lr, mu, nesterov=False):
    def step(p, g, s, t):
        v_old = s.get("v", np.zeros_like(p))
        v = mu * v_old - lr * g
        s["v"] = v
        return p - mu * v_old + (1 + mu) * v if nesterov else p + v

    return step


def ref_adagrad(lr, eps=1e-8):
    def step(p, g, s, t):
        s["c"] = s.get("c", np.zeros_like(p)) + g * g
        return p - lr * g / (np.sqrt(s["c"]) + eps)

    return step


def ref_rmsprop(lr, rho=0.9, eps=1e-8):
    def step(p, g, s, t):
        s["c"] = rho * s.get("c", np.zeros_like(p)) + (1 - rho) * g * g
        return p - lr * g / (np.sqrt(s["c"]) + eps)

    return step


def ref_adadelta(lr=1.0, rho=0.95, eps=1e-6):
    def step(p, g, s, t):
        s["eg"] = rho * s.get("eg", np.zeros_like(p)) + (1 - rho) * g * g
        ed = s.get("ed", np.zeros_like(p))
        dx = -np.sqrt(ed + eps) / np.sqrt(s["eg"] + eps) * g
        s["ed"] = rho * ed + (1 - rho) * dx * dx
        return p + lr * dx

    return step


def ref_adam(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    def step(p, g, s, t):
        s["m"] = b1 * s.get("m", np.zeros_like(p)) + (1 - b1) * g
        s["v"] = b2 * s.get("v", np.zeros_like(p)) + (1 - b2) * g * g
        mh, vh = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
        return p - lr * (mh / (np.sqrt(vh) + eps) + wd * p)

    return step


CASES = {
    "sgd": (lambda: gn.optim.SGD(0.1), ref_sgd(0.1), {}),
    "momentum": (lambda: gn.optim.SGD(0.05, momentum=0.9), ref_momentum(0.05, 0.9), {}),
    "nesterov": (lambda: gn.optim.Nesterov(0.05, momentum=0.9), ref_momentum(0.05, 0.9, True), {}),
    "adagrad": (lambda: gn.optim.Adagrad(0.3), ref_adagrad(0.3), {}),
    "rmsprop": (lambda: gn.optim.RMSprop(0.01, rho=0.8), ref_rmsprop(0.01, 0.8), {}),
    "adadelta": (lambda: gn.optim.Adadelta(1.0, rho=0.9), ref_adadelta(1.0, 0.9), {}),
    "adam": (lambda: gn.optim.Adam(0.05), ref_adam(0.05), {}),
    "adamw": (lambda: gn.optim.AdamW(0.05, weight_decay=0.1), ref_adam(0.05, wd=0.1), {}),
    "sgd_l2": (lambda: gn.optim.SGD(0.1, l2=0.3), ref_sgd(0.1), {"l2": 0.3}),
    "sgd_l1": (lambda: gn.optim.SGD(0.1, l1=0.05), ref_sgd(0.1), {"l1": 0.05}),
    "momentum_decoupled_wd": (lambda: gn.optim.SGD(0.05, momentum=0.5, weight_decay=0.2),
                              ref_momentum(0.05, 0.5), {"wd": (0.05, 0.2)}),
}


def build(opt: gn.optim.Optimizer):
    with gn.Graph("lsq") as g:
        x = gn.input("x", (16, 3), "float64")
        y = gn.input("y", (16, 2), "float64")
        w = gn.param("w", (3, 2), "float64", init=W0)
        b = gn.param("b", (2,), "float64", init=B0)
        loss = gn.mse(x @ w + b, y)
    fn = gn.compile(g, outputs={"loss": loss}, updates=opt.updates(loss, [w, b]))
    return g, fn


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_textbook_formula(case: str) -> None:
    make, ref, extra = CASES[case]
    g, fn = build(make())
    w, b = W0.copy(), B0.copy()
    sw, sb = {}, {}
    for t in range(1, 21):
        gw, gb = np_grads(w, b)
        if "l2" in extra:
            gw, gb = gw + extra["l2"] * w, gb + extra["l2"] * b
        if "l1" in extra:
            gw, gb = gw + extra["l1"] * np.sign(w), gb + extra["l1"] * np.sign(b)
        nw, nb = ref(w, gw, sw, t), ref(b, gb, sb, t)
        if "wd" in extra:
            lr, wd = extra["wd"]
            nw, nb = nw - lr * wd * w, nb - lr * wd * b
        w, b = nw, nb
        fn(x=X, y=Y)
        np.testing.assert_allclose(g.storage["w"], w, rtol=0, atol=1e-6, err_msg=f"{case} step {t}")
        np.testing.assert_allclose(g.storage["b"], b, rtol=0, atol=1e-6, err_msg=f"{case} step {t}")
    assert not np.allclose(w, W0)  # the problem actually moved


def test_learning_rate_is_runtime_state_no_recompile() -> None:
    opt = gn.optim.SGD(0.1)
    g, fn = build(opt)
    fn(x=X, y=Y)
    plans = dict(fn._plans)
    opt.set_lr(0.0)
    before = g.storage["w"].copy()
    fn(x=X, y=Y)
    np.testing.assert_array_equal(g.storage["w"], before)
    opt.set_lr(0.5)
    fn(x=X, y=Y)
    assert not np.array_equal(g.storage["w"], before)
    assert opt.get_lr() == 0.5
    assert len(plans) == 1 and all(fn._plans[k] is p for k, p in plans.items())  # nothing rebuilt


def test_slots_are_graph_state_and_update_nodes_are_tagged() -> None:
    opt = gn.optim.Adam(0.01)
    g, fn = build(opt)
    names = {s.name for s in g.state}
    assert {f"{opt.prefix}/w/m", f"{opt.prefix}/w/v", f"{opt.prefix}/b/m", f"{opt.prefix}/lr",
            f"{opt.prefix}/t"} <= names
    assert any("update" in n.tags for n in fn.graph.nodes)
    fn(x=X, y=Y)
    assert float(g.storage[f"{opt.prefix}/t"]) == 1.0


def test_updates_twice_is_an_error() -> None:
    opt = gn.optim.SGD(0.1)
    g, fn = build(opt)
    with pytest.raises(gn.GraphError, match="already"):
        opt.updates(g.outputs.get("loss") or next(iter(fn.graph.outputs.values())), g.params)


SCHEDULES = [
    (gn.optim.InverseTimeDecay(0.5, 0.1), lambda e: 0.5 / (1 + 0.1 * e)),
    (gn.optim.ExponentialDecay(0.5, 0.9), lambda e: 0.5 * 0.9 ** e),
    (gn.optim.StepDecay(0.5, 3, 0.5), lambda e: 0.5 * 0.5 ** (e // 3)),
    (gn.optim.CosineDecay(0.5, 10, 0.01), lambda e: 0.01 + 0.49 * (1 + math.cos(math.pi * min(e, 10) / 10)) / 2),
    (gn.optim.LinearWarmup(0.4, 3), lambda e: 0.4 * (e + 1) / 4 if e < 3 else 0.4),
    (gn.optim.CyclicLR(0.1, 0.5, 2), lambda e: [0.1, 0.3, 0.5, 0.3][e % 4]),
]


@pytest.mark.parametrize("i", range(len(SCHEDULES)))
def test_schedules(i: int) -> None:
    sched, ref = SCHEDULES[i]
    for e in range(15):
        assert sched(e) == pytest.approx(ref(e), rel=1e-12, abs=1e-15)
