"""Activation layers beyond ReLU/Tanh/Sigmoid (module.py): ReLU6, Hardswish, Hardsigmoid, ELU, SELU, SiLU, Mish,
GELU, Softsign, each an `Activation` over its op."""

from __future__ import annotations

from ...ir.ops import activation as act
from ...ir.ops import nn as nnops
from .module import Activation


def ReLU6() -> Activation:
    """min(max(x, 0), 6) as a layer."""
    return Activation(act.relu6, "relu6")


def Hardswish() -> Activation:
    """x * hardsigmoid(x) as a layer (PyTorch's nn.Hardswish)."""
    return Activation(act.hardswish, "hardswish")


def Hardsigmoid() -> Activation:
    """max(0, min(1, x/6 + 1/2)) as a layer (PyTorch's nn.Hardsigmoid)."""
    return Activation(act.hardsigmoid, "hardsigmoid")


def ELU(alpha: float = 1.0) -> Activation:
    """x if x > 0 else alpha * (exp(x) - 1) as a layer."""
    return Activation(lambda x: act.elu(x, alpha), "elu")


def SELU() -> Activation:
    """The self-normalizing ELU as a layer."""
    return Activation(act.selu, "selu")


def SiLU() -> Activation:
    """x * sigmoid(x) as a layer."""
    return Activation(nnops.silu, "silu")


def Mish() -> Activation:
    """x * tanh(softplus(x)) as a layer."""
    return Activation(act.mish, "mish")


def GELU(approximate: str = "none") -> Activation:
    """x * Phi(x) as a layer; approximate="tanh" for the tanh form."""
    return Activation(lambda x: nnops.gelu(x, approximate), "gelu")


def Softsign() -> Activation:
    """x / (1 + |x|) as a layer."""
    return Activation(act.softsign, "softsign")
