"""Character-level text data for language-model examples and tests: an offline English corpus, a vocabulary,
next-character windows, and the unigram baseline a model must beat (in bits per character).

The corpus is the text of Python's own help topics (`pydoc_data.topics`, ~450 kB of English prose and code
that ships with every CPython), so the examples need no download.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..ir.errors import FeedError


def python_docs_corpus() -> str:
    """The help topics shipped with CPython (`pydoc_data.topics`), joined in sorted key order: ~450 kB of English."""
    try:
        from pydoc_data.topics import topics  # optional part of the standard library; some distros strip it
    except ImportError as e:  # pragma: no cover - depends on how Python was packaged
        raise FeedError("text corpus: this Python was packaged without pydoc_data (the help topics); "
                        "pass your own text instead") from e
    return "\n\n".join(topics[k] for k in sorted(topics))


class CharVocab:
    """The characters of a text, sorted, with their integer ids; `encode`/`decode` map between the two."""

    def __init__(self, text: str) -> None:
        if not text:
            raise FeedError("CharVocab: the text is empty")
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Ids of `text` as int64; a character outside the vocabulary is a FeedError naming it."""
        try:
            return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as e:
            raise FeedError(f"CharVocab.encode: character {e.args[0]!r} is not in the vocabulary "
                            f"({len(self)} characters)") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids."""
        return "".join(self.chars[int(i)] for i in ids)


def windows(ids: np.ndarray, length: int, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, length) and next-character targets (N, length) cut from a 1-D id array every `stride` ids."""
    ids = np.asarray(ids)
    stride = stride or length
    if ids.ndim != 1 or length < 1 or stride < 1 or ids.size < length + 1:
        raise FeedError(f"windows: need a 1-D id array longer than length={length} (got shape {ids.shape}) "
                        f"and a positive stride (got {stride})")
    starts = np.arange(0, ids.size - length, stride)
    take = starts[:, None] + np.arange(length)[None, :]
    return ids[take], ids[take + 1]


def unigram_bits_per_char(train_ids: np.ndarray, test_ids: np.ndarray, vocab_size: int) -> float:
    """Held-out bits per character of the best context-free model (train frequencies, add-one smoothed)."""
    counts = np.bincount(np.asarray(train_ids).ravel(), minlength=vocab_size).astype(np.float64) + 1.0
    p = counts / counts.sum()
    return float(-np.log2(p[np.asarray(test_ids).ravel()]).mean())


def bits_per_char(mean_nats: float) -> float:
    """A mean cross-entropy in nats per character, in bits per character."""
    return mean_nats / math.log(2.0)


def sample_next(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0) -> int:
    """One id drawn from softmax(logits / temperature) of a 1-D logit vector (computed stably in float64)."""
    z = np.asarray(logits, dtype=np.float64) / max(temperature, 1e-6)
    p = np.exp(z - z.max())
    return int(rng.choice(p.size, p=p / p.sum()))
