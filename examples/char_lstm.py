"""A character-level LSTM language model on Python's own help topics (offline English text shipped with CPython).

Declares embedding -> LSTM -> linear once, trains next-character prediction with gn.train.fit (Adam, progress bar),
reports held-out bits per character against the unigram baseline, samples text, exports the model to ONNX (and
checks the logits in onnxruntime), and draws the training step into --out.
    python examples/char_lstm.py [--epochs 2] [--hidden 128] [--chars 0 (all)] [--out out/char_lstm]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphnn as gn
from graphnn import nn
from graphnn.training.text import (
    CharVocab,
    bits_per_char,
    python_docs_corpus,
    sample_next,
    unigram_bits_per_char,
    windows,
)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64, help="characters per training window (the scan's trip count)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--chars", type=int, default=0, help="use only the first N characters of the corpus (0: all)")
    ap.add_argument("--sample", type=int, default=300, help="characters of sampled text")
    ap.add_argument("--out", default="out/char_lstm")
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    text = python_docs_corpus()
    text = text[: args.chars] if args.chars else text
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    split = int(len(ids) * 0.9)
    train_ids, test_ids = ids[:split], ids[split:]
    X, Y = windows(train_ids, args.seq)
    Xt, Yt = windows(test_ids, args.seq)
    V = len(vocab)
    print(f"corpus: {len(text):,} characters of CPython's help topics, vocabulary {V}, "
          f"{len(X):,} training windows of {args.seq}")

    with gn.Graph("char_lstm") as g:
        x = gn.input("x", (None, None), "int64")  # (batch, time): both symbolic, so sampling can feed any length
        y = gn.input("y", (None, None), "int64")
        emb = nn.Embedding(V, args.embed)
        lstm = nn.LSTM(args.embed, args.hidden)
        head = nn.Linear(args.hidden, V)
        out, _ = lstm(emb(x))
        logits = head(out)  # (batch, time, V)
        loss = gn.cross_entropy(gn.softmax(logits), y)  # the naive composition: the compiler fuses it
        g.output("logits", logits)

    history = gn.train.fit(loss, {"x": X, "y": Y}, gn.optim.Adam(args.lr), epochs=args.epochs,
                           batch_size=args.batch, progress=True, backend=args.backend)
    test = history.trainer.evaluate({"x": Xt, "y": Yt})
    bpc, base = bits_per_char(test["loss"]), unigram_bits_per_char(train_ids, test_ids, V)
    seconds = time.perf_counter() - t0
    print(f"held-out bits per character {bpc:.3f} (unigram baseline {base:.3f}), {seconds:.1f} s total")

    infer = gn.compile(g, outputs={"logits": logits}, mode="eval", backend=args.backend)
    rng = np.random.default_rng(0)
    sample = list(vocab.encode("The "))
    for _ in range(args.sample):
        ctx = np.asarray(sample[-args.seq:], np.int64)[None, :]
        sample.append(sample_next(np.asarray(infer(x=ctx)["logits"])[0, -1], rng, temperature=0.8))
    sampled = vocab.decode(sample)
    print(f"\nsampled text (temperature 0.8):\n{sampled}\n")

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "char_lstm.onnx")
    report = gn.onnx.export(g, onnx_path, outputs={"logits": logits})
    print(f"ONNX export:\n{report}")
    onnx_diff = _onnxruntime_diff(onnx_path, infer, Xt[:4])
    if onnx_diff is not None:
        print(f"onnxruntime logits vs graphnn: max |diff| {onnx_diff:.2e}")
    html_path = os.path.join(args.out, "char_lstm.html")
    gn.viz.save_html(history.trainer.step_fn, html_path, dims={"batch": args.batch})
    print(f"wrote {html_path} (the training step, forward and backward scans, pass by pass)")
    return {"bits_per_char": bpc, "unigram_bits_per_char": base, "sample": sampled, "seconds": seconds,
            "onnx_max_diff": onnx_diff, "history": history}


def _onnxruntime_diff(path: str, infer: gn.CompiledFunction, x: np.ndarray) -> float | None:
    """Largest |logit difference| between onnxruntime on the exported file and graphnn (None without onnxruntime)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (got,) = sess.run(["logits"], {"x": x})
    return float(np.abs(got - np.asarray(infer(x=x)["logits"])).max())


if __name__ == "__main__":
    main()
