"""ONNX for attention (graphnn/backends/onnx/attention.py): the decomposed export (opset 17) and ONNX's Attention
op (opset 23) against onnxruntime, including masks that leave a row no key and a causal pattern over a symbolic
sequence length; PyTorch exports of a GPT block and nn.TransformerEncoderLayer load and match PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphnn as gn

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(5)


def _ort(model: object, feeds: dict[str, np.ndarray]) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    return sess.run(None, feeds)[0]


@pytest.mark.parametrize("opset", [17, 23])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_export_matches_onnxruntime(opset: int, causal: bool, masked: bool) -> None:
    with gn.Graph() as g:
        q, k, v = (gn.input(n, (None, 2, 5, 4)) for n in "qkv")
        m = gn.input("m", (None, 1, 5, 5), "bool")
        o = gn.attention(q, k, v, m if masked else None, causal=causal)
    feeds = {n: RNG.standard_normal((3, 2, 5, 4)).astype(np.float32) for n in "qkv"}
    if masked:
        feeds["m"] = RNG.random((3, 1, 5, 5)) < 0.6
        feeds["m"][0, 0, 1] = False  # a row with no key at all
        feeds["m"][1, 0, 2] = [False, False, False, True, True]  # keys only in the future: none left if causal
    want = gn.compile(g, outputs={"o": o})(**feeds)["o"]
    model = gn.onnx.export(g, None, outputs={"o": o}, opset=opset, check_parity=False).model
    assert ("Attention" in {n.op_type for n in model.graph.node}) == (opset >= 23)
    got = _ort(model, feeds)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_causal_export_over_a_symbolic_sequence_length() -> None:
    with gn.Graph() as g:
        q, k, v = (gn.input(n, (None, "T", 8)) for n in "qkv")
        o = gn.attention(q, k, v, causal=True)
    fn = gn.compile(g, outputs={"o": o})
    model = gn.onnx.export(g, None, outputs={"o": o}, check_parity=False).model
    for t in (3, 9):
        feeds = {n: RNG.standard_normal((2, t, 8)).astype(np.float32) for n in "qkv"}
        np.testing.assert_allclose(_ort(model, feeds), fn(**feeds)["o"], rtol=1e-5, atol=1e-6)


def test_export_loads_back_and_is_fused_again() -> None:
    with gn.Graph() as g:
        q, k, v = (gn.input(n, (None, 6, 4)) for n in "qkv")
        o = gn.attention(q, k, v, causal=True, scale=0.3)
    data = gn.onnx.export(g, None, outputs={"o": o}, check_parity=False).model.SerializeToString()
    back = gn.compile(gn.onnx.load(data))
    assert [n.op for n in back.graph.nodes if n.op in ("attention", "softmax")] == ["attention"]
    feeds = {n: RNG.standard_normal((2, 6, 4)).astype(np.float32) for n in "qkv"}
    np.testing.assert_allclose(back(**feeds)["o"], gn.compile(g, outputs={"o": o})(**feeds)["o"], rtol=1e-6)


# ---- PyTorch exports -------------------------------------------------------------------------------------------
E, H, F, T, B, V = 16, 4, 32, 7, 2, 11


def _gpt_block(torch: object) -> object:
    nn = torch.nn  # type: ignore[attr-defined]

    class GPTBlock(nn.Module):
        """Embedding, one causal pre-norm attention block with a GELU MLP, a linear head (written out by hand)."""

        def __init__(self) -> None:
            super().__init__()
            self.emb, self.pos = nn.Embedding(V, E), nn.Parameter(torch.randn(T, E) * 0.1)  # type: ignore[attr-defined]
            self.ln1, self.ln2 = nn.LayerNorm(E), nn.LayerNorm(E)
            self.qkv, self.proj = nn.Linear(E, 3 * E), nn.Linear(E, E)
            self.fc1, self.fc2, self.head = nn.Linear(E, F), nn.Linear(F, E), nn.Linear(E, V)
            self.register_buffer("causal", torch.tril(torch.ones(T, T, dtype=torch.bool)))  # type: ignore[attr-defined]

        def forward(self, ids: object) -> object:
            x = self.emb(ids) + self.pos
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(E, dim=-1)
            q, k, v = (z.view(b, t, H, E // H).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)) / (E // H) ** 0.5
            att = att.masked_fill(~self.causal[:t, :t], float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, E)
            x = x + self.proj(y)
            x = x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))
            return self.head(x)

    return GPTBlock()


def _encoder_layer(torch: object) -> object:
    nn = torch.nn  # type: ignore[attr-defined]

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True)

        def forward(self, x: object) -> object:
            return self.layer(x, is_causal=False)

    return Encoder()


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("model", ["gpt_block", "encoder_layer"])
def test_pytorch_exports_load_and_match(tmp_path, model: str, dynamo: bool) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch makes the models here")
    if dynamo:
        pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    torch.manual_seed(0)
    m = (_gpt_block if model == "gpt_block" else _encoder_layer)(torch).eval()
    x = torch.randint(0, V, (B, T)) if model == "gpt_block" else torch.randn(B, T, E)
    path = str(tmp_path / f"{model}.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Fixed (B, T) here; dynamic batch and length are tests/backends/onnx/test_seq_exports.py's.
        torch.onnx.export(m, (x,), path, dynamo=dynamo, opset_version=18 if dynamo else 17, input_names=["x"],
                          output_names=["y"])
    g = gn.onnx.load(path)
    fn = gn.compile(g)
    got = fn(**{g.inputs[0].name: x.numpy()})["y"]
    want = m(x).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    if model == "gpt_block" and not dynamo:  # masked_fill(~causal, -inf) with a constant scale: fused
        assert any(n.op == "attention" for n in fn.graph.nodes)
