"""Op families; `FAMILIES` is the explicit list the registry is built from (no import side effects).

Imports only sibling ir modules.
"""

from __future__ import annotations

from . import control, elementwise, fused, fused_elementwise, linalg, loss, nn, reduction, shape_ops

FAMILIES = (elementwise, reduction, shape_ops, linalg, nn, loss, fused, control, fused_elementwise)
