"""Transitional alias: `graphnn.checking.opmatrix` (on main) imports this module for the layout before the family
split; the tables now live in the family modules and are gathered in `graphnn.backends.onnx`. Delete this file
together with that fallback import.
"""

from __future__ import annotations

from . import LOWERINGS, UNSUPPORTED

__all__ = ["LOWERINGS", "UNSUPPORTED"]
