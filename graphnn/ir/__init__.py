"""The IR layer: types, values, nodes, graphs, the op registry and the builder. Imports nothing above it."""

from __future__ import annotations

from . import operators  # noqa: F401 - fills value.OPERATORS (Value's operators) once graph is loaded
from .errors import (
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
from .graph import Graph, Node, Provenance, Value
from .op import Op
from .op_registry import get_op, register_families, registry
from .ops import FAMILIES
from .types import TensorType
from .verify import verify

register_families(FAMILIES)

__all__ = ["BackendError", "DTypeError", "FeedError", "Graph", "GraphError", "GraphnnError", "Node", "NumericsError",
           "Op", "Provenance", "ShapeError", "StabilityWarning", "TensorType", "TraceError", "Value", "get_op",
           "registry", "verify"]
