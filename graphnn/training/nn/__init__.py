"""Layers (`gn.nn`): objects that create parameters (under a name scope) and, called on a Value, return a Value.

Parameters are made on the first call, in the graph of the value the layer is called on; calling a layer
again shares its parameters. User-level library: may import anything from graphnn. One file per family.
"""

from .activations import ELU, GELU, SELU, Hardsigmoid, Hardswish, Mish, ReLU6, SiLU, Softsign
from .attention import MultiHeadAttention, TransformerBlock
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dense import Dropout, Embedding, Flatten, LeakyReLU, Linear, Maxout, PReLU
from .module import SEED, Activation, Module, ReLU, Sequential, Sigmoid, Tanh, default_init, state_updates
from .norm import BatchNorm, BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm
from .pool import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool1d, MaxPool2d, Upsample
from .recurrent import GRU, LSTM, RNN

__all__ = [
           "SEED",
           "Activation",
           "BatchNorm",
           "BatchNorm1d",
           "BatchNorm2d",
           "Conv1d",
           "Conv2d",
           "ConvTranspose2d",
           "Dropout",
           "Embedding",
           "Flatten",
           "GRU",
           "LSTM",
           "LayerNorm",
           "LeakyReLU",
           "Linear",
           "MaxPool2d",
           "Maxout",
           "Module",
           "MultiHeadAttention",
           "PReLU",
           "ReLU",
           "RNN",
           "Sequential",
           "Sigmoid",
           "Tanh",
           "TransformerBlock",
           "default_init",
           "state_updates",
]
__all__ += [
           "ELU",
           "GELU",
           "SELU",
           "AdaptiveAvgPool2d",
           "AvgPool2d",
           "GlobalAvgPool2d",
           "GroupNorm",
           "Hardsigmoid",
           "Hardswish",
           "InstanceNorm2d",
           "MaxPool1d",
           "Mish",
           "ReLU6",
           "SiLU",
           "Softsign",
           "Upsample",
]
