"""Op families; `FAMILIES` is the explicit list the registry is built from (no import side effects).

Imports only sibling ir modules.
"""

from __future__ import annotations

from . import (
               activation,
               attention,
               collective,
               control,
               control_flow,
               conv,
               elementwise,
               fused,
               fused_elementwise,
               indexing,
               linalg,
               loss,
               nn,
               nn_grads,
               norm,
               pool,
               reduction,
               resample,
               shape_ops,
               stochastic,
)

FAMILIES = (elementwise, reduction, shape_ops, linalg, nn, loss, fused, control, conv, norm, stochastic, control_flow,
            fused_elementwise, collective, indexing, attention,
            pool, activation, resample, nn_grads)
