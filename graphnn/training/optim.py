"""Optimizers as graph update rules (slots are graph state) and learning-rate schedules.

`opt.updates(loss, params)` differentiates `loss` and returns `{param or state name: new value}` for
`gn.compile(..., updates=...)`, so the whole step — forward, backward, update — is one compiled graph. The
learning rate is a scalar state value (`opt.lr_value`) the trainer overwrites between steps, so a schedule
never recompiles. User-level library: may import anything from graphnn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir.builder import state, user_location
from ..ir.errors import GraphError
from ..ir.graph import Graph, Value
from ..ir.ops.elementwise import abs as ew_abs
from ..ir.ops.elementwise import cast, less, sign, sqrt, stop_gradient, where
from ..ir.ops.reduction import sum as rsum
from ..passes.autodiff import grad
from .nn import state_updates


class Optimizer:
    """Base class: gradient (+ L1/L2 penalty) -> per-parameter rule -> optional decoupled weight decay.

    l2 adds `l2 * p` to the gradient (the gradient of `l2/2 * ||p||^2`), l1 adds `l1 * sign(p)`;
    weight_decay is decoupled (Loshchilov & Hutter): after the rule, `p -= lr * weight_decay * p`.
    """

    def __init__(self, lr: float, *, l1: float = 0.0, l2: float = 0.0, weight_decay: float = 0.0,
                 skip_nonfinite: bool = True) -> None:
        self.lr = float(lr)
        # A step whose loss is NaN or inf leaves parameters, slots and statistics as they were (the returned loss
        # shows it; gn.compile(check_numerics=True) or gn.train's guard name the node). False: write whatever.
        self.skip_nonfinite = bool(skip_nonfinite)
        self.l1, self.l2, self.weight_decay = float(l1), float(l2), float(weight_decay)
        self.graph: Graph | None = None
        self.loss: Value | None = None
        self.lr_value: Value | None = None
        self.grads: dict[str, Value] = {}  # param name -> its gradient value (monitors read these)
        self.slots: list[str] = []  # names of the state values this optimizer owns
        self.params: list[Value] = []
        self.update_values: dict[str, Value] = {}  # what `updates` returned
        self.prefix = ""

    # ---- building --------------------------------------------------------------------------
    def _slot(self, p: Value, what: str, init: float = 0.0) -> Value:
        name = f"{self.prefix}/{p.name}/{what}"
        v = state(name, p.type.shape, p.dtype, init=init)
        self._own(name)
        return v

    def _scalar_slot(self, what: str, dtype: str, init: float) -> Value:
        v = state(f"{self.prefix}/{what}", (), dtype, init=init)
        self._own(v.name)
        return v

    def _own(self, name: str) -> None:
        """Record a slot here and on the graph: a model's saved state is everything but optimizer slots."""
        self.slots.append(name)
        self.graph.meta.setdefault("optimizer_slots", []).append(name)  # type: ignore[union-attr]

    def updates(self, loss: Value, params: Sequence[Value] | None = None) -> dict[str, Value]:
        """Differentiate `loss` w.r.t. `params` (default: the graph's trainable ones); the update rules."""
        g = loss.graph
        if self.graph is not None:
            raise GraphError(f"{type(self).__name__}.updates was already called; make one optimizer per step")
        params = list(g.trainable_params if params is None else params)
        if not params:
            raise GraphError("optimizer: no trainable parameters to update")
        for p in params:
            if not isinstance(p, Value) or p.kind != "param" or p.graph is not g:
                raise GraphError(f"optimizer: {getattr(p, 'name', p)!r} is not a parameter of graph {g.name!r}")
            if not p.type.is_float:
                raise GraphError(f"optimizer: parameter {p.name} is {p.dtype}, not trainable")
        for dt in sorted({p.dtype for p in params}):
            self._check_constants(dt)
        self.graph, self.params, self.loss = g, params, loss
        with g.as_current():
            self.prefix = g.unique_name(type(self).__name__.lower())
            self.lr_value = self._scalar_slot("lr", params[0].dtype, self.lr)
            self._setup(params[0].dtype)
            grads = grad(loss, params)
            out: dict[str, Value] = {}
            with g.name_scope(self.prefix), g.building(frozenset({"update"})):
                for p, gr in zip(params, grads):
                    self.grads[p.name] = gr
                    lr = self.lr_value if self.lr_value.dtype == p.dtype else cast(self.lr_value, p.dtype)
                    if self.l2:
                        gr = gr + self.l2 * p
                    if self.l1:
                        gr = gr + self.l1 * sign(p)
                    new = self._rule(p, gr, lr, out)
                    if self.weight_decay:
                        new = new - lr * self.weight_decay * p
                    out[p.name] = new
                out.update(self._finish())
        # Layers' state updates (batch-norm running statistics) belong to every training step, as in
        # PyTorch's train mode; without them eval mode would silently use the initial statistics.
        out.update(state_updates(g))
        if self.skip_nonfinite:
            out = self._guard(g, loss, out)
        self.update_values = dict(out)
        return out

    _HYPER = ("lr", "eps", "beta1", "beta2", "rho", "momentum", "l1", "l2", "weight_decay")

    def _check_constants(self, dtype: str) -> None:
        """A hyperparameter that rounds to 0 or overflows in the parameters' dtype is an error here, at build
        time, not an infinite loss at step 1 (Adam's eps=1e-8 is 0 in float16)."""
        for k in self._HYPER:
            v = getattr(self, k, None)
            if not isinstance(v, float) or v == 0.0:
                continue
            with np.errstate(all="ignore"):
                r = float(np.asarray(v, dtype=dtype))
            what = "underflows to 0" if r == 0.0 else "overflows to inf" if not math.isfinite(r) else None
            if what:
                tiny, big = float(np.finfo(dtype).smallest_normal), float(np.finfo(dtype).max)
                eg = f" (e.g. {type(self).__name__}(..., {k}={max(tiny, 1e-4):g}))" if r == 0.0 else ""
                raise GraphError(f"{type(self).__name__}: {k}={v:g} {what} in {dtype}, the parameters' dtype; "
                                 f"pass {k}= within [{tiny:g}, {big:g}]{eg}, or train float32 parameters"
                                 f"\n  at: {user_location()}")

    @staticmethod
    def _guard(g: Graph, loss: Value, out: dict[str, Value]) -> dict[str, Value]:
        """Each update becomes `where(|loss| < inf, new, old)`: one scalar test, and a select that fuses into
        the update's own elementwise kernel, so a non-finite loss never reaches the parameters."""
        with g.as_current(), g.building(frozenset({"update"})):
            total = loss if loss.type.rank == 0 else rsum(loss)
            ok = less(ew_abs(total), float("inf"))
            # stop_gradient: updates are never differentiated, and it tells the stability pass so.
            return {k: where(ok, stop_gradient(new), g.param(k)) for k, new in out.items()}

    def _setup(self, dtype: str) -> None:
        """Create optimizer-wide state (a step counter, say)."""

    def _finish(self) -> dict[str, Value]:
        """Updates of optimizer-wide state."""
        return {}

    def _rule(self, p: Value, g: Value, lr: Value, out: dict[str, Value]) -> Value:
        raise NotImplementedError

    # ---- runtime ---------------------------------------------------------------------------
    def set_lr(self, lr: float) -> None:
        """Set the learning rate the next steps use (writes the state value; nothing recompiles)."""
        if self.graph is None or self.lr_value is None:
            self.lr = float(lr)
            return
        self.graph.storage[self.lr_value.name] = np.asarray(lr, dtype=self.lr_value.dtype)

    def get_lr(self) -> float:
        """The learning rate the next step uses."""
        if self.graph is None or self.lr_value is None:
            return self.lr
        return float(self.graph.storage[self.lr_value.name])


class SGD(Optimizer):
    """p <- p - lr * g; with momentum mu: v <- mu*v - lr*g, p <- p + v; Nesterov: p <- p - mu*v_old + (1+mu)*v."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **kw: Any) -> None:
        super().__init__(lr, **kw)
        if nesterov and not momentum:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), nesterov

    def _rule(self, p: Value, g: Value, lr: Value, out: dict[str, Value]) -> Value:
        if not self.momentum:
            return p - lr * g
        v = self._slot(p, "velocity")
        v_new = self.momentum * v - lr * g
        out[v.name] = v_new
        if self.nesterov:
            # The CS231n form: the look-ahead expressed in the stored parameters.
            return p - self.momentum * v + (1.0 + self.momentum) * v_new
        return p + v_new


def Momentum(lr: float = 0.01, momentum: float = 0.9, **kw: Any) -> SGD:
    """SGD with classical momentum."""
    return SGD(lr, momentum=momentum, **kw)


def Nesterov(lr: float = 0.01, momentum: float = 0.9, **kw: Any) -> SGD:
    """SGD with Nesterov momentum."""
    return SGD(lr, momentum=momentum, nesterov=True, **kw)


class Adagrad(Optimizer):
    """cache <- cache + g^2; p <- p - lr * g / (sqrt(cache) + eps)."""

    def __init__(self, lr: float = 0.01, eps: float = 1e-8, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.eps = float(eps)

    def _rule(self, p: Value, g: Value, lr: Value, out: dict[str, Value]) -> Value:
        c = self._slot(p, "cache")
        c_new = c + g * g
        out[c.name] = c_new
        return p - lr * g / (sqrt(c_new) + self.eps)


class RMSprop(Optimizer):
    """cache <- rho*cache + (1-rho)*g^2; p <- p - lr * g / (sqrt(cache) + eps)."""

    def __init__(self, lr: float = 0.001, rho: float = 0.9, eps: float = 1e-8, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.rho, self.eps = float(rho), float(eps)

    def _rule(self, p: Value, g: Value, lr: Value, out: dict[str, Value]) -> Value:
        c = self._slot(p, "cache")
        c_new = self.rho * c + (1.0 - self.rho) * (g * g)
        out[c.name] = c_new
        return p - lr * g / (sqrt(c_new) + self.eps)


class Adadelta(Optimizer):
    """Zeiler (2012): Eg2 <- rho*Eg2 + (1-rho)g^2; dx = -sqrt(Edx2+eps)/sqrt(Eg2+eps)*g;
    Edx2 <- rho*Edx2 + (1-rho)dx^2; p <- p + lr*dx (lr=1 is the paper's method)."""

    def __init__(self, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.rho, self.eps = float(rho), float(eps)

    def _rule(self, p: Value, g: Value, lr: Value, out: dict[str, Value]) -> Value:
        eg, ed = self._slot(p, "sq_grad"), self._slot(p, "sq_delta")
        eg_new = self.rho * eg + (1.0 - self.rho) * (g * g)
        dx = -(sqrt(ed + self.eps) / sqrt(eg_new + self.eps)) * g
        out[eg.name] = eg_new
        out[ed.name] = self.rho * ed + (1.0 - self.rho) * (dx * dx)
        return p + lr * dx


class Adam(Optimizer):
    """Kingma & Ba: m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2; bias-corrected;
    p <- p - lr * m_hat / (sqrt(v_hat) + eps)."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _setup(self, dtype: str) -> None:
        self.t = self._scalar_slot("t", dtype, 0.0)
        self.t_new = self.t + 1.0

    def _finish(self) -> dict[str, Value]:
        return {self.t.name: self.t_new}

    def _rule(self, p: Value, g: Value, lr: Value, out: dict[str, Value]) -> Value:
        m, v = self._slot(p, "m"), self._slot(p, "v")
        m_new = self.beta1 * m + (1.0 - self.beta1) * g
        v_new = self.beta2 * v + (1.0 - self.beta2) * (g * g)
        out[m.name], out[v.name] = m_new, v_new
        t = self.t_new if self.t_new.dtype == p.dtype else cast(self.t_new, p.dtype)
        m_hat = m_new / (1.0 - self.beta1 ** t)
        v_hat = v_new / (1.0 - self.beta2 ** t)
        return p - lr * m_hat / (sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01, **kw: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay=weight_decay, **kw)


# ---- schedules: epoch -> learning rate -------------------------------------------------------
Schedule = Callable[[int], float]


class InverseTimeDecay:
    """lr0 / (1 + rate * epoch)."""

    def __init__(self, lr0: float, rate: float) -> None:
        self.lr0, self.rate = lr0, rate

    def __call__(self, epoch: int) -> float:
        return self.lr0 / (1.0 + self.rate * epoch)


class ExponentialDecay:
    """lr0 * gamma ** epoch."""

    def __init__(self, lr0: float, gamma: float) -> None:
        self.lr0, self.gamma = lr0, gamma

    def __call__(self, epoch: int) -> float:
        return self.lr0 * self.gamma ** epoch


class StepDecay:
    """lr0 * gamma ** (epoch // step_size)."""

    def __init__(self, lr0: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr0, self.step_size, self.gamma = lr0, step_size, gamma

    def __call__(self, epoch: int) -> float:
        return self.lr0 * self.gamma ** (epoch // self.step_size)


class CosineDecay:
    """lr_min + (lr0 - lr_min) * (1 + cos(pi * min(epoch, total) / total)) / 2."""

    def __init__(self, lr0: float, total: int, lr_min: float = 0.0) -> None:
        self.lr0, self.total, self.lr_min = lr0, total, lr_min

    def __call__(self, epoch: int) -> float:
        e = min(epoch, self.total)
        return self.lr_min + (self.lr0 - self.lr_min) * 0.5 * (1.0 + math.cos(math.pi * e / self.total))


class LinearWarmup:
    """Ramp linearly from lr/(warmup+1) towards the wrapped schedule over `warmup` epochs, then follow it."""

    def __init__(self, after: Schedule | float, warmup: int) -> None:
        self.after = after if callable(after) else (lambda e, lr=float(after): lr)
        self.warmup = warmup

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup:
            return self.after(self.warmup) * (epoch + 1) / (self.warmup + 1)
        return self.after(epoch)


class CyclicLR:
    """Triangular cycle (Smith 2017) between lr_min and lr_max with a half-period of `step_size` epochs."""

    def __init__(self, lr_min: float, lr_max: float, step_size: int) -> None:
        self.lr_min, self.lr_max, self.step_size = lr_min, lr_max, step_size

    def __call__(self, epoch: int) -> float:
        cycle_pos = epoch % (2 * self.step_size)
        frac = cycle_pos / self.step_size if cycle_pos <= self.step_size else 2 - cycle_pos / self.step_size
        return self.lr_min + (self.lr_max - self.lr_min) * frac


__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "CosineDecay", "CyclicLR", "ExponentialDecay",
           "InverseTimeDecay", "LinearWarmup", "Momentum", "Nesterov", "Optimizer", "RMSprop", "StepDecay"]
