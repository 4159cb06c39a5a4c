"""Shared helpers for the ONNX tests: export a graph, run it on graphnn and onnxruntime on the same feeds."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.backends.onnx.parity import run_graph, run_onnxruntime


def export_and_compare(g: gn.Graph, outputs: dict, feeds_for: object, sizes: tuple[int, ...] = (2, 5), **kw: object
                       ) -> gn.onnx.ExportReport:
    """Export `outputs` of `g`, then for each size compare graphnn (the export-optimized graph, and the graph
    imported back from the model) with onnxruntime at 1e-5 relative float32."""
    rep = gn.onnx.export(g, None, outputs=outputs, check_parity=False, **kw)
    model = rep.model
    opt = gn.onnx.prepare(g, outputs)
    back = gn.onnx.load(model)
    assert list(back.outputs) == list(outputs)
    for size in sizes:
        feeds = feeds_for(size)  # type: ignore[operator]
        ours = run_graph(opt, feeds)
        theirs = run_onnxruntime(model, feeds)
        again = run_graph(back, feeds)
        for k in outputs:
            assert theirs[k].dtype == ours[k].dtype and theirs[k].shape == ours[k].shape, (k, theirs[k].dtype, ours[k].dtype)
            np.testing.assert_allclose(theirs[k], ours[k], rtol=1e-5, atol=1e-6, err_msg=f"onnxruntime vs graphnn: {k}")
            np.testing.assert_allclose(again[k], ours[k], rtol=1e-6, atol=1e-7, err_msg=f"round trip: {k}")
    return rep
