"""gn.viz: drawings of graphs and compiled functions (Graphviz DOT text, a self-contained HTML page) with
costs, gradient flow and the pass-by-pass pipeline. User-level library: may import anything in graphnn.
"""

from __future__ import annotations

from .costs import bind_dims, graph_costs
from .dot import to_dot
from .gradflow import gradient_flow
from .html import save_html
from .layout import layout

__all__ = ["bind_dims", "gradient_flow", "graph_costs", "layout", "save_html", "to_dot"]
