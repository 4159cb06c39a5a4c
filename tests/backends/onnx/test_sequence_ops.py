"""ONNX forms of the sequence-model ops (issue 17) that the conformance cases (opsets 13 and 17) do not reach:
Gelu as one node from opset 20, gather from a symbolic-batch id tensor, and an embedding table round trip."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import graphnn as gn

from .helpers import export_and_compare


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("opset", [17, 20])
def test_gelu_is_one_gelu_node_from_opset_20(approximate: str, opset: int) -> None:
    with gn.Graph("g") as g:
        x = gn.input("x", (None, 6))
        y = gn.gelu(x * 3.0, approximate=approximate)
    rep = export_and_compare(g, {"y": y}, lambda n: {"x": np.random.default_rng(n).standard_normal((n, 6))
                                                       .astype("float32")}, opset=opset)
    ops = [n.op_type for n in rep.model.graph.node]
    assert ("Gelu" in ops) == (opset >= 20)
    assert ("Erf" in ops) == (opset < 20 and approximate == "none")
    assert ("Tanh" in ops) == (opset < 20 and approximate == "tanh")
    back = gn.onnx.load(rep.model)
    assert any(n.op == "gelu" and n.attrs["approximate"] == approximate for n in back.nodes) == (opset >= 20)


def test_embedding_lookup_exports_as_gather_and_loads_back_as_a_parameter() -> None:
    with gn.Graph("emb") as g:
        ids = gn.input("ids", (None, 4), "int64")
        emb = gn.nn.Embedding(10, 3)
        h = gn.silu(emb(ids))
    rep = export_and_compare(g, {"h": h}, lambda n: {"ids": np.random.default_rng(n).integers(-10, 10, (n, 4))})
    gathers = [n for n in rep.model.graph.node if n.op_type == "Gather"]
    assert len(gathers) == 1 and gathers[0].input[0] == emb.weight.name
    back = gn.onnx.load(rep.model)
    assert emb.weight.name in {p.name for p in back.params}  # the table stays trainable, not a folded constant


def test_gelu_refuses_an_unknown_mode_on_load() -> None:
    node = onnx.helper.make_node("Gelu", ["x"], ["y"], approximate="erf")
    graph = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 20)])
    with pytest.raises(gn.GraphError, match="approximate='erf'"):
        gn.onnx.load(model)


def test_shape_builders_export_as_the_onnx_ops_of_their_names() -> None:
    with gn.Graph("s") as g:
        x = gn.input("x", (None, 1, 4))
        outs = {"sq": gn.squeeze(x, 1), "st": gn.stack([x, x], axis=1), "cs": gn.cumsum(x, 2, exclusive=True)}
    rep = export_and_compare(g, outs, lambda n: {"x": np.random.default_rng(n).standard_normal((n, 1, 4))
                                                 .astype("float32")})
    made = {}
    for node in rep.model.graph.node:
        made.setdefault(node.output[0] if node.output[0] in outs else node.op_type, node.op_type)
    ops = [n.op_type for n in rep.model.graph.node if n.op_type != "Constant"]
    assert made["sq"] == "Squeeze" and "Slice" not in ops  # squeezing a size-1 axis needs no Slice
    assert made["st"] == "Concat" and "Unsqueeze" in ops and made["cs"] == "CumSum"  # one Unsqueeze after CSE


def test_pytorch_export_of_embedding_gelu_split_stack_cumsum_loads_and_matches() -> None:
    torch = pytest.importorskip("torch", reason="PyTorch's exporter writes the model (pip install torch==2.13.0)")
    import io
    import warnings

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(11, 6)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            h = torch.nn.functional.gelu(self.emb(ids))
            a, b = torch.split(h, [2, 4], dim=-1)
            s = torch.stack([torch.nn.functional.silu(a), torch.tanh(b[..., :2]).unsqueeze(-1).squeeze(-1)], dim=1)
            return torch.cumsum(s, dim=2)

    torch.manual_seed(0)
    net = Net().eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(net, (torch.randint(0, 11, (2, 5)),), buf, dynamo=False, input_names=["ids"],
                          output_names=["y"], dynamic_axes={"ids": {0: "B", 1: "T"}}, opset_version=17)
    ops = {n.op_type for n in onnx.load_from_string(buf.getvalue()).graph.node}
    assert {"Gather", "Erf", "Split", "CumSum", "Concat"} <= ops, ops
    fn = gn.compile(gn.onnx.load(buf.getvalue()))
    for shape in ((3, 7), (1, 2)):
        ids = torch.randint(0, 11, shape)
        want = net(ids).detach().numpy()
        np.testing.assert_allclose(fn(ids=ids.numpy())["y"], want, rtol=1e-5, atol=1e-6)
