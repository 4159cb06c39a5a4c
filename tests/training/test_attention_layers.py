"""gn.nn.MultiHeadAttention and gn.nn.TransformerBlock (graphnn/training/nn/attention.py) against PyTorch's
nn.MultiheadAttention and nn.TransformerEncoderLayer (norm_first, GELU) with the weights copied over: outputs
and parameter gradients in float32 within 1e-5; a plain-NumPy float64 reference always runs."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from tests.conformance.cases import CASES  # noqa: F401 - loaded first: it imports the family case files
from tests.conformance.cases_attention import np_attention

E, H, F, T, B = 16, 4, 24, 7, 3
RNG = np.random.default_rng(11)


def _mha_graph(causal: bool, dtype: str = "float32") -> tuple[gn.Graph, gn.Value, gn.Value, gn.nn.MultiHeadAttention]:
    with gn.Graph() as g:
        x = gn.input("x", (None, None, E), dtype)
        mha = gn.nn.MultiHeadAttention(E, H, causal=causal)
        y = mha(x)
    return g, x, y, mha


def _np_mha(x: np.ndarray, p: dict[str, np.ndarray], causal: bool) -> np.ndarray:
    qkv = x @ p["w_qkv"] + p["b_qkv"]
    heads = [np.swapaxes(a.reshape(B, T, H, E // H), 1, 2) for a in np.split(qkv, 3, axis=-1)]
    o = np_attention(*heads, causal=causal)
    return np.swapaxes(o, 1, 2).reshape(B, T, E) @ p["w_out"] + p["b_out"]


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_matches_numpy_in_float64(causal: bool) -> None:
    g, _, y, mha = _mha_graph(causal, "float64")
    x = RNG.standard_normal((B, T, E))
    params = {p.name.rsplit("/", 1)[1]: g.storage[p.name] for p in mha.params}
    got = gn.compile(g, outputs={"y": y})(x=x)["y"]
    np.testing.assert_allclose(got, _np_mha(x, params, causal), rtol=1e-12, atol=1e-12)


def test_layers_refuse_bad_shapes() -> None:
    with pytest.raises(gn.ShapeError, match="multiple of num_heads"):
        gn.nn.MultiHeadAttention(10, 3)
    with gn.Graph(), pytest.raises(gn.ShapeError, match=r"must be \(B, T, 16\)"):
        gn.nn.MultiHeadAttention(E, H)(gn.input("x", (None, 8)))


def _copy_mha(s: dict, prefix: str, m: object) -> None:
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}  # type: ignore[attr-defined]
    s[prefix + "w_qkv"][...] = sd["in_proj_weight"].T
    s[prefix + "b_qkv"][...] = sd["in_proj_bias"]
    s[prefix + "w_out"][...] = sd["out_proj.weight"].T
    s[prefix + "b_out"][...] = sd["out_proj.bias"]


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_matches_pytorch(causal: bool) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is the reference here")
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(E, H, batch_first=True)
    g, _, y, mha = _mha_graph(causal)
    _copy_mha(g.storage, "mha/", ref)
    with g:
        loss = gn.sum(y * y)
        grads = gn.grad(loss, mha.params)
    fn = gn.compile(g, outputs={"y": y, **{p.name: d for p, d in zip(mha.params, grads)}})
    xs = RNG.standard_normal((B, T, E)).astype(np.float32)
    got = fn(x=xs)
    xt = torch.from_numpy(xs)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T) if causal else None
    want, _ = ref(xt, xt, xt, attn_mask=mask, need_weights=False, is_causal=causal)
    (want * want).sum().backward()
    np.testing.assert_allclose(got["y"], want.detach().numpy(), rtol=1e-5, atol=1e-5)
    pairs = {"w_qkv": ref.in_proj_weight.grad.T, "b_qkv": ref.in_proj_bias.grad,
             "w_out": ref.out_proj.weight.grad.T, "b_out": ref.out_proj.bias.grad}
    for name, tg in pairs.items():
        np.testing.assert_allclose(got["mha/" + name], tg.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("causal", [False, True])
def test_transformer_block_matches_pytorch_encoder_layer(causal: bool) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is the reference here")
    torch.manual_seed(1)
    ref = torch.nn.TransformerEncoderLayer(E, H, F, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
    with gn.Graph() as g:
        x = gn.input("x", (None, None, E))
        blk = gn.nn.TransformerBlock(E, H, F, causal=causal)
        y = blk(x)
    s, p = g.storage, "transformer_block/"
    sd = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    for ours, theirs in (("ln1/gamma", "norm1.weight"), ("ln1/beta", "norm1.bias"), ("ln2/gamma", "norm2.weight"),
                         ("ln2/beta", "norm2.bias"), ("fc1/b", "linear1.bias"), ("fc2/b", "linear2.bias")):
        s[p + ours][...] = sd[theirs]
    s[p + "fc1/w"][...] = sd["linear1.weight"].T
    s[p + "fc2/w"][...] = sd["linear2.weight"].T
    _copy_mha(s, p + "attn/", ref.self_attn)
    xs = RNG.standard_normal((B, T, E)).astype(np.float32)
    got = gn.compile(g, outputs={"y": y})(x=xs)["y"]
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T) if causal else None
    want = ref(torch.from_numpy(xs), src_mask=mask, is_causal=causal).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert len(blk.params) == 12


def test_transformer_block_dropout_only_in_train_mode() -> None:
    with gn.Graph() as g:
        x = gn.input("x", (None, T, E))
        y = gn.nn.TransformerBlock(E, H, F, dropout=0.5)(x)
    xs = RNG.standard_normal((B, T, E)).astype(np.float32)
    a = gn.compile(g, outputs={"y": y}, mode="eval")(x=xs)["y"]
    b = gn.compile(g, outputs={"y": y}, mode="eval")(x=xs)["y"]
    np.testing.assert_array_equal(a, b)
    c = gn.compile(g, outputs={"y": y}, mode="train")(x=xs)["y"]
    assert not np.allclose(a, c)
