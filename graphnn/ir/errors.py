"""graphnn's exception hierarchy; every message names the op, the node, the shapes and the user's line.

Imports nothing else from graphnn.
"""

from __future__ import annotations


class GraphnnError(Exception):
    """Base of every error graphnn raises on purpose."""


class ShapeError(GraphnnError, ValueError):
    """A shape rule failed when a node was created (or a feed did not fit a static dim)."""


class DTypeError(GraphnnError, TypeError):
    """Dtypes do not fit an op; graphnn never promotes silently."""


class GraphError(GraphnnError, ValueError):
    """The graph is malformed or a request on it cannot be honoured."""


class FeedError(GraphnnError, ValueError):
    """A call's feeds do not match the compiled function's inputs."""


class NumericsError(GraphnnError, FloatingPointError):
    """A node produced NaN or inf while `check_numerics=True`."""


class BackendError(GraphnnError, RuntimeError):
    """A backend is unavailable or lacks a kernel."""


class TraceError(GraphnnError, RuntimeError):
    """A traced function did something a static graph cannot capture."""


class StabilityWarning(UserWarning):
    """An unstable numerical pattern was found in the graph."""


# Shown as `graphnn.ShapeError` (the public name) in tracebacks rather than the defining module.
for _cls in (GraphnnError, ShapeError, DTypeError, GraphError, FeedError, NumericsError, BackendError, TraceError,
             StabilityWarning):
    _cls.__module__ = "graphnn"
