"""An `onnx.backend.base.Backend` running ONNX models on graphnn (import, then the NumPy executor), so ONNX's
own node test suite (`onnx.backend.test`) can be run against graphnn.

Imports graphnn.ir, the shared executor and the onnx package.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from ...ir.errors import GraphError
from .importer import load
from .parity import run_graph


class GraphnnRep(BackendRep):
    """A prepared model: the imported graph; `run` feeds inputs in the model's input order."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self._specialized: dict[bytes, Any] = {}
        try:
            self.graph = load(model)
        except GraphError as e:
            if "must be a constant" not in str(e):
                raise
            self.graph = None  # shapes or axes arrive as inputs: import once their values are known
        inits = {t.name for t in model.graph.initializer}
        self.input_names = [i.name for i in model.graph.input if i.name not in inits]
        self.output_names = [o.name for o in model.graph.output]

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            feeds = dict(zip(self.input_names, arrays))
        feeds = {k: np.asarray(v) for k, v in feeds.items()}
        outs = run_graph(self.graph if self.graph is not None else self._specialize(feeds), feeds)
        return tuple(outs[name] for name in self.output_names)


    def _specialize(self, feeds: dict[str, np.ndarray]) -> Any:
        """The graph imported with the integer feeds as constants (they are shapes, axes or starts)."""
        static = {k: v for k, v in feeds.items() if v.dtype.kind in "iub"}
        key = b"".join(k.encode() + v.tobytes() + str(v.shape).encode() for k, v in sorted(static.items()))
        if key not in self._specialized:
            self._specialized[key] = load(self.model, static_inputs=static)
        return self._specialized[key]


class GraphnnBackend(Backend):
    """graphnn as an ONNX backend (CPU only)."""

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return True  # never skip: a model graphnn cannot import fails, naming what it lacks

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> GraphnnRep:
        super().prepare(model, device, **kwargs)
        return GraphnnRep(model)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper().startswith("CPU")

