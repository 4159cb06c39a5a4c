"""A character-level GPT (token and position embeddings, causal pre-norm TransformerBlocks, a linear head) trained
on real English offline: the help topics that ship with CPython (graphnn/training/text.py).

Declares the graph once, trains it with gn.train.fit (Adam, progress bar), reports held-out bits per character
against the unigram baseline, samples text, exports to ONNX (logits checked against onnxruntime) and draws the
training step.   python examples/tiny_gpt.py [--epochs 4] [--blocks 2] [--out out/tiny_gpt] [--backend cupy]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphnn as gn
from graphnn import nn
from graphnn.training import text


def build(vocab: int, context: int, d_model: int, heads: int, blocks: int) -> tuple[gn.Graph, dict[str, gn.Value]]:
    """The GPT graph: ids (B, context) -> logits (B, context, vocab), the loss against next-character ids."""
    with gn.Graph("tiny_gpt") as g:
        ids = gn.input("x", (None, context), "int64")
        targets = gn.input("y", (None, context), "int64")
        pos = gn.param("pos", (context, d_model), init=gn.init.normal(std=0.02))
        h = nn.Embedding(vocab, d_model, init=gn.init.normal(std=0.02))(ids) + pos
        for _ in range(blocks):
            h = nn.TransformerBlock(d_model, heads, 4 * d_model, causal=True)(h)
        logits = nn.Linear(d_model, vocab, name="head")(nn.LayerNorm(d_model, name="ln_f")(h))
        # Over (B, T, V) logits and (B, T) targets directly: no reshape to (B·T, V) needed.
        loss = gn.cross_entropy(gn.softmax(logits), targets)
        g.output("logits", logits)
    return g, {"logits": logits, "loss": loss}


def sample(fn: gn.Function, vocab: text.CharVocab, prompt: np.ndarray, n: int, seed: int = 0,
           temperature: float = 0.8) -> str:
    """`n` characters after `prompt` (context ids), each drawn from the model's next-character distribution."""
    rng = np.random.default_rng(seed)
    window, out = prompt.copy(), []
    for _ in range(n):
        logits = fn(x=window[None, :])["logits"][0, -1]
        nxt = text.sample_next(logits, rng, temperature)
        out.append(nxt)
        window = np.concatenate([window[1:], [nxt]])
    return vocab.decode(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--chars", type=int, default=200_000, help="use the first N characters of the corpus (0: all)")
    ap.add_argument("--sample", type=int, default=200, help="characters to sample after training")
    ap.add_argument("--out", default="out/tiny_gpt")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="where to train (cupy: a GPU)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    corpus = text.python_docs_corpus()
    corpus = corpus[:args.chars] if args.chars else corpus
    vocab = text.CharVocab(corpus)
    ids = vocab.encode(corpus)
    split = int(len(ids) * 0.9)  # the last 10% of the text is held out
    train_ids, test_ids = ids[:split], ids[split:]
    X, Y = text.windows(train_ids, args.context)
    X_test, Y_test = text.windows(test_ids, args.context)
    unigram = text.unigram_bits_per_char(train_ids, Y_test, len(vocab))
    print(f"corpus: {len(ids)} characters of CPython's help topics, {len(vocab)} distinct; "
          f"{len(X)} training windows of {args.context}; unigram baseline {unigram:.3f} bits/char held out")

    g, v = build(len(vocab), args.context, args.d_model, args.heads, args.blocks)
    history = gn.train.fit(v["loss"], {"x": X, "y": Y}, gn.optim.Adam(args.lr),
                           schedule=gn.optim.CosineDecay(args.lr, args.epochs), epochs=args.epochs, batch_size=32,
                           progress=True, backend=args.backend)
    trainer = history.trainer
    test_bpc = text.bits_per_char(trainer.evaluate({"x": X_test, "y": Y_test})["loss"])
    seconds = time.perf_counter() - t0
    print(f"held-out {test_bpc:.3f} bits/char vs unigram {unigram:.3f} ({seconds:.1f} s)")

    infer = gn.compile(g, outputs={"logits": v["logits"]}, mode="eval", backend=args.backend)
    prompt = X_test[0]
    generated = sample(infer, vocab, prompt, args.sample)
    print(f"\nprompt: {vocab.decode(prompt)!r}\nsample: {generated!r}")

    print("\nwhat the compiler did to the training step:")
    print(trainer.step_fn.report())
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "tiny_gpt.onnx")
    report = gn.onnx.export(g, onnx_path, outputs={"logits": v["logits"]})  # parity against onnxruntime included
    print(f"\nONNX export:\n{report}")
    html_path = os.path.join(args.out, "tiny_gpt.html")
    gn.viz.save_html(trainer.step_fn, html_path, dims={"batch": 32})
    print(f"wrote {html_path} (the training step, forward and backward, pass by pass)")
    return {"test_bpc": test_bpc, "unigram_bpc": unigram, "seconds": seconds, "sample": generated,
            "history": history, "onnx": onnx_path, "graph": g, "infer": infer, "X_test": X_test}


if __name__ == "__main__":
    main()
