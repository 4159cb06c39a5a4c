"""PyTorch exports of sequence models import and match PyTorch: nn.Embedding, nn.TransformerEncoderLayer
(batch_first), a hand-written GPT block (embedding, causal attention, layer norm, GELU MLP), nn.LSTM and nn.GRU,
each from both exporters (TorchScript `dynamo=False`, `dynamo=True`) with a dynamic batch and sequence length,
run at two (batch, length) pairs other than the export's; within 1e-5 relative."""

from __future__ import annotations

import importlib.util
import io
import math
import warnings
from typing import Any

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.onnx.parity import run_onnxruntime

torch = pytest.importorskip("torch", reason="torch is not installed: PyTorch exports are made here")
nn = torch.nn

VOCAB, D, HEADS, T_MAX = 13, 16, 4, 32
SIZES = ((2, 5), (3, 9))  # (batch, length) pairs run after an export made at (2, 6)
EXPORTERS = ("torchscript", "dynamo")


class Embed(nn.Module):
    """nn.Embedding alone: ids (B, T) -> (B, T, D)."""

    def __init__(self) -> None:
        super().__init__()
        self.e = nn.Embedding(VOCAB, D)

    def forward(self, ids: Any) -> Any:
        return self.e(ids)


class Encoder(nn.Module):
    """nn.TransformerEncoderLayer(batch_first=True) in eval mode: x (B, T, D) -> (B, T, D)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=32, dropout=0.0, batch_first=True)

    def forward(self, x: Any) -> Any:
        return self.layer(x)


class GPTBlock(nn.Module):
    """Token + position embedding, pre-norm causal self-attention (one fused qkv projection split in three),
    pre-norm GELU MLP, logits: ids (B, T) -> (B, T, VOCAB)."""

    def __init__(self) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(T_MAX, D)
        self.ln1, self.ln2, self.ln_f = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc, self.out, self.head = nn.Linear(D, 4 * D), nn.Linear(4 * D, D), nn.Linear(D, VOCAB)

    def forward(self, ids: Any) -> Any:
        b, t = ids.shape
        x = self.tok(ids) + self.pos(torch.arange(t))
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
        q, k, v = (z.view(b, t, HEADS, D // HEADS).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // HEADS)
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        att = torch.softmax(att.masked_fill(~causal, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, D)
        x = x + self.proj(y)
        x = x + self.out(nn.functional.gelu(self.fc(self.ln2(x))))
        return self.head(self.ln_f(x))


class Recurrent(nn.Module):
    """nn.LSTM / nn.GRU (batch_first, 2 layers, bidirectional): x (B, T, 5) -> output sequence (B, T, 2·H)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(5, 6, num_layers=2, bidirectional=True, batch_first=True)

    def forward(self, x: Any) -> Any:
        return self.rnn(x)[0]


MODELS = {"embedding": (Embed, "ids"), "encoder_layer": (Encoder, "x"), "gpt_block": (GPTBlock, "ids"),
          "lstm": (lambda: Recurrent("LSTM"), "feat"), "gru": (lambda: Recurrent("GRU"), "feat")}
# PyTorch's TorchScript export of nn.MultiheadAttention writes the traced length into the key/value Reshape
# (`k.view(6, B*heads, head_dim)`): the file itself runs only at the export's length (onnxruntime refuses others,
# see the test below), so that pair is checked with a dynamic batch at the export's length.
STATIC_LENGTH = {("encoder_layer", "torchscript")}
EXPORT_LENGTH = 6


def _input(kind: str, b: int, t: int, seed: int) -> Any:
    g = torch.Generator().manual_seed(seed)
    if kind == "ids":
        return torch.randint(0, VOCAB, (b, t), generator=g)
    width = D if kind == "x" else 5  # "feat": the recurrent models' 5 features
    return torch.randn(b, t, width, generator=g)


def _export(m: Any, x: Any, exporter: str, dynamic_length: bool = True) -> bytes:
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(m, (x,), f, dynamo=False, opset_version=17, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "B", 1: "T"} if dynamic_length else {0: "B"}})
        else:
            shapes = ({0: torch.export.Dim("B", max=64), 1: torch.export.Dim("T", max=T_MAX)},)
            torch.onnx.export(m, (x,), dynamo=True, opset_version=18, input_names=["x"], output_names=["y"],
                              dynamic_shapes=shapes).save(f)
    return f.getvalue()


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(MODELS))
def test_sequence_model_export_loads_and_matches_pytorch(name: str, exporter: str) -> None:
    if exporter == "dynamo" and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("the dynamo exporter needs onnxscript (pip install onnxscript)")
    make, kind = MODELS[name]
    static_t = (name, exporter) in STATIC_LENGTH
    torch.manual_seed(0)
    m = make().eval()
    data = _export(m, _input(kind, 2, EXPORT_LENGTH, 0), exporter, dynamic_length=not static_t)
    g = gn.onnx.load(data)
    want = ["sym", EXPORT_LENGTH if static_t else "sym"]
    assert [d if isinstance(d, int) else "sym" for d in g.inputs[0].shape[:2]] == want, g.inputs[0].type
    fn = gn.compile(g)
    for b, t in SIZES:
        t = EXPORT_LENGTH if static_t else t
        x = _input(kind, b, t, b * 100 + t)
        with torch.no_grad():
            ref = m(x).numpy()
        out = fn(x=x.numpy())["y"]
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()),
                                   err_msg=f"{name} ({exporter}) at batch {b}, length {t}")


def test_torchscript_encoder_layer_with_dynamic_length_is_refused_like_onnxruntime() -> None:
    # The file declares T dynamic but reshapes keys to the traced length: onnxruntime fails at another length, and
    # graphnn, which checks every shape when it builds the graph, refuses the load with the node and the shapes.
    torch.manual_seed(0)
    data = _export(Encoder().eval(), _input("x", 2, EXPORT_LENGTH, 0), "torchscript")
    x = _input("x", 2, EXPORT_LENGTH + 1, 1).numpy()
    with pytest.raises(Exception, match="Reshape"):
        run_onnxruntime(data, {"x": x})
    with pytest.raises(gn.GraphError, match=r"Reshape.*\(T, B, 16\) to \(6, B\*4, 4\)"):
        gn.onnx.load(data)
