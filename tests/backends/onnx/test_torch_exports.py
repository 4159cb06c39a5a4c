"""PyTorch exports import and match PyTorch: the committed files under tests/data/torch_exports (made by
tests/data/make_torch_exports.py; CI without torch still covers the path) against PyTorch's recorded outputs and
onnxruntime, and fresh exports made here from both exporters when torch (and onnxscript, for dynamo) is installed.
Every model has a dynamic batch and runs at two batch sizes; within 1e-5 relative."""

from __future__ import annotations

import importlib.util
import io
import os
import warnings

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.onnx.parity import run_onnxruntime

HERE = os.path.join(os.path.dirname(__file__), "..", "..", "data", "torch_exports")
NAMES = ("gelu_mlp", "lenet", "tiny_resnet", "chunk_gate", "avg_lenet", "gap_resnet", "mobile_block", "unet_decoder")
EXPORTERS = ("torchscript", "dynamo")
BATCHES = (2, 5)


def _check(model: object, ref: dict, where: str) -> None:
    g = gn.onnx.load(model)
    assert not isinstance(g.inputs[0].shape[0], int), f"{where}: the batch dim should stay symbolic"
    fn = gn.compile(g)
    for b in BATCHES:
        out = fn(x=ref[f"x{b}"])["y"]
        np.testing.assert_allclose(out, ref[f"y{b}"], rtol=1e-5, atol=1e-6, err_msg=f"{where}, batch {b}")


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", NAMES)
def test_committed_export_matches_pytorch_and_onnxruntime(name: str, exporter: str) -> None:
    path = os.path.join(HERE, f"{name}_{exporter}.onnx")
    ref = dict(np.load(os.path.join(HERE, f"{name}.npz")))
    _check(path, ref, path)
    for b in BATCHES:  # the file itself is what PyTorch computed: onnxruntime agrees with the recorded outputs
        with open(path, "rb") as f:
            theirs = run_onnxruntime(f.read(), {"x": ref[f"x{b}"]})["y"]
        np.testing.assert_allclose(theirs, ref[f"y{b}"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", NAMES)
def test_fresh_pytorch_export_matches_pytorch(name: str, exporter: str) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the committed exports cover this path")
    if exporter == "dynamo" and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("the dynamo exporter needs onnxscript (pip install onnxscript)")
    import torch  # here: optional: torch is only needed by this test

    from tests.data.make_torch_exports import MODELS, build, export, reference  # here: imports torch

    m = build(name)
    data = export(m, torch.zeros((3, *MODELS[name][1])), exporter)
    _check(data, reference(m, name), f"{name} ({exporter})")


def test_torchscript_dynamic_reshape_chain_is_folded_to_a_symbolic_reshape() -> None:
    # x.view(x.size(0), -1) is Shape -> Gather -> Unsqueeze -> Concat -> Reshape in the TorchScript export.
    g = gn.onnx.load(os.path.join(HERE, "lenet_torchscript.onnx"))
    flat = [n.outputs[0] for n in g.nodes if n.op == "reshape" and n.outputs[0].ndim == 2]
    assert [v.shape for v in flat] == [(g.inputs[0].shape[0], 24)]


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_sequence_logits_view_over_dynamic_batch_and_length(exporter: str) -> None:
    # Positions arange(T), h.view(-1, V) then .view(B, T, V) with both B and T dynamic: the importer's dims become
    # B*T and back, and Range over the symbolic T builds the positions.
    torch = pytest.importorskip("torch", reason="torch is not installed")
    if exporter == "dynamo" and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("the dynamo exporter needs onnxscript (pip install onnxscript)")
    class Seq(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.e, self.pos, self.lin = torch.nn.Embedding(11, 8), torch.nn.Embedding(16, 8), torch.nn.Linear(8, 11)

        def forward(self, ids: object) -> object:
            b, t = ids.shape
            h = self.e(ids) + self.pos(torch.arange(t))  # Range(0, T, 1) over the dynamic length
            return torch.log_softmax(self.lin(h).view(-1, 11), -1).view(b, t, 11)

    torch.manual_seed(0)
    m = Seq().eval()
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = torch.randint(0, 11, (2, 5))
        if exporter == "torchscript":
            torch.onnx.export(m, (ids,), f, dynamo=False, opset_version=17, input_names=["ids"], output_names=["y"],
                              dynamic_axes={"ids": {0: "B", 1: "T"}})
        else:
            torch.onnx.export(m, (ids,), dynamo=True, opset_version=18, input_names=["ids"], output_names=["y"],
                              dynamic_shapes=({0: torch.export.Dim("B"), 1: torch.export.Dim("T", max=16)},)).save(f)
    fn = gn.compile(gn.onnx.load(f.getvalue()))
    for b, t in ((3, 4), (2, 7)):
        x = torch.randint(0, 11, (b, t))
        with torch.no_grad():
            ref = m(x).numpy()
        np.testing.assert_allclose(fn(ids=x.numpy())["y"], ref, rtol=1e-5, atol=1e-6)
