"""graphnn: a define-then-run deep-learning compiler. Public names, re-exported; nothing else lives here."""

from __future__ import annotations

from .compiler import Function, compile
from .ir.builder import constant, input, label, param, state
from .ir.errors import (
    BackendError,
    DTypeError,
    FeedError,
    GraphError,
    GraphnnError,
    NumericsError,
    ShapeError,
    StabilityWarning,
    TraceError,
)
from .ir.graph import Graph, Node, Value
from .ir.ops.attention import attention
from .ir.ops.elementwise import (
    abs,
    add,
    cast,
    div,
    equal,
    erf,
    exp,
    greater,
    greater_equal,
    identity,
    leaky_relu,
    less,
    less_equal,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    prelu,
    relu,
    sigmoid,
    sign,
    softplus,
    sqrt,
    stop_gradient,
    sub,
    tanh,
    where,
)
from .ir.ops.indexing import gather
from .ir.ops.linalg import matmul
from .ir.ops.loss import binary_cross_entropy, cross_entropy, kl_div, mae, mse
from .ir.ops.nn import gelu, log_softmax, maxout, one_hot, silu, softmax
from .ir.ops.reduction import argmax, cumsum, max, mean, min, sum
from .ir.ops.shape_ops import broadcast_to, concat, reshape, split, squeeze, stack, tile, transpose, unsqueeze
from .ir.types import TensorType
from .ir.verify import verify

__version__ = "0.1.0"

__all__ = [
    "BackendError", "DTypeError", "FeedError", "Function", "Graph", "GraphError", "GraphnnError", "Node",
    "NumericsError", "ShapeError", "StabilityWarning", "TensorType", "TraceError", "Value", "abs", "add", "argmax",
    "binary_cross_entropy", "broadcast_to", "cast", "compile", "concat", "constant", "cross_entropy", "div", "equal",
    "exp", "grad", "greater", "greater_equal", "identity", "input", "kl_div", "label", "leaky_relu", "less",
    "less_equal", "log", "log_softmax", "mae", "matmul", "max", "maximum", "mean", "min", "minimum", "mse", "mul",
    "neg", "one_hot", "param", "pow", "prelu", "relu", "reshape", "sigmoid", "sign", "softmax", "softplus", "sqrt",
    "state", "stop_gradient", "sub", "sum", "tanh", "transpose", "verify", "where", "maxout",
    "gather", "erf", "gelu", "silu", "split", "stack", "squeeze", "unsqueeze", "tile", "cumsum",
    "attention",
]

# ---- nn ops and initializers (conv/pool, norms, dropout, gn.init) ----------------------------
from .ir.ops.conv import conv1d, conv2d, conv_transpose2d  # noqa: E402
from .ir.ops.norm import batch_norm, layer_norm  # noqa: E402
from .ir.ops.pool import max_pool2d  # noqa: E402
from .ir.ops.stochastic import dropout  # noqa: E402
from .ir.ops.volume import avg_pool3d, conv3d, conv_transpose3d, max_pool3d  # noqa: E402
from .training import init  # noqa: E402

__all__ += ["batch_norm", "conv1d", "conv2d", "conv_transpose2d", "dropout", "init", "layer_norm", "max_pool2d",
            "avg_pool3d", "conv3d", "conv_transpose3d", "max_pool3d"]

# ---- passes: fused stable losses, gn.optimize, validate mode --------------------------------------------
from .checking.validate import ValidationError  # noqa: E402
from .compiler import optimize  # noqa: E402
from .ir.ops.fused import sigmoid_binary_cross_entropy, softmax_cross_entropy  # noqa: E402
from .passes.pipeline import PassRecord, PipelineReport  # noqa: E402

__all__ += ["PassRecord", "PipelineReport", "ValidationError", "optimize", "sigmoid_binary_cross_entropy",
            "softmax_cross_entropy"]

# ---- autodiff: gradient checking -------------------------------------------------------------------
from .checking.gradcheck import GradCheck, check_grad  # noqa: E402

__all__ += ["GradCheck", "check_grad"]

# ---- training toolkit: layers, optimizers, the training loop, checkpoints ----
from .training import (  # noqa: E402
    checkpoint,  # noqa: E402
    nn,
    optim,
)
from .training import loop as train  # noqa: E402
from .training.checkpoint import CheckpointError, load_params, save_params  # noqa: E402
from .training.checkpoint import load_model as load  # noqa: E402 - gn.save / gn.load
from .training.checkpoint import save_model as save

__all__ += ["nn", "optim", "train", "checkpoint", "CheckpointError", "load", "load_params", "save", "save_params"]

# ---- eager mode, tracing and control flow ----------------------------------------------------
from .frontends.eager import (  # noqa: E402
    EagerTensor,
    eager,
    grad,  # noqa: E402,F811  (gn.grad also accepts eager tensors; delegates to passes.autodiff.grad)
    tensor,
)
from .frontends.tracing import TracedFunction, function, trace  # noqa: E402
from .ir.ops.control_flow import cond, scan  # noqa: E402

__all__ += ["EagerTensor", "TracedFunction", "cond", "scan", "eager", "function", "tensor", "trace"]

# ---- onnx: export/import (gn.onnx.export, gn.onnx.load) ----
from . import onnx  # noqa: E402 - graphnn/onnx.py; `import onnx` elsewhere still means the onnx package

__all__ += ["onnx"]

# ---- data parallelism on MPI (gn.dist: rank, size, shard) ----
from . import distributed as dist  # noqa: E402

__all__ += ["dist"]

# ---- visualization and debugging (viz) ----
from . import viz  # noqa: E402

__all__ += ["viz"]

# ---- module paths of earlier versions: `import graphnn.nn` keeps working after the move into rooms ----
import sys as _sys  # noqa: E402

from .training import checkpoint as _checkpoint  # noqa: E402

for _old, _mod in {"nn": nn, "optim": optim, "train": train, "init": init, "checkpoint": _checkpoint}.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _mod)
del _old, _mod
