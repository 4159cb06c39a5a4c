"""Fills `value.OPERATORS`: the builder functions behind Value's Python operators (`x + y`, `x @ w`, `x[i]`),
its NumPy hooks and `print(g)`. Kept apart from value.py because the op builders import it.

Imports sibling ir modules only.
"""

from __future__ import annotations

from .builder import numpy_on_value, numpy_ufunc_on_values, value_as_bool, value_as_data
from .ops import elementwise as ew
from .ops import linalg, reduction, shape_ops
from .printer import format_graph
from .value import OPERATORS

OPERATORS.update({
    "bool": value_as_bool, "data": value_as_data, "ufunc": numpy_ufunc_on_values, "numpy": numpy_on_value,
    "abs": ew.abs, "add": ew.add, "sub": ew.sub, "mul": ew.mul, "div": ew.div, "pow": ew.pow, "neg": ew.neg,
    "greater": ew.greater, "less": ew.less, "greater_equal": ew.greater_equal, "less_equal": ew.less_equal,
    "cast": ew.cast, "matmul": linalg.matmul, "getitem": shape_ops.getitem, "transpose": shape_ops.transpose,
    "reshape": shape_ops.reshape, "format": format_graph,
    "sum": reduction.sum, "mean": reduction.mean, "max": reduction.max, "min": reduction.min,
    "argmax": reduction.argmax,
})
