"""The offline text corpus and character-level helpers the language-model examples use."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphnn as gn
from graphnn.training import text


def test_corpus_is_english_and_offline() -> None:
    s = text.python_docs_corpus()
    assert len(s) > 200_000
    words = s.lower().split()
    assert words.count("the") > 1000  # prose, not just code


def test_vocab_round_trip_and_unknown_char() -> None:
    v = text.CharVocab("hello world")
    assert len(v) == 8
    ids = v.encode("low")
    assert ids.dtype == np.int64 and v.decode(ids) == "low"
    with pytest.raises(gn.FeedError, match="'z'"):
        v.encode("zoo")


def test_windows_are_shifted_by_one() -> None:
    ids = np.arange(11)
    x, y = text.windows(ids, 4, stride=3)
    assert x.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert (y == x + 1).all()
    with pytest.raises(gn.FeedError):
        text.windows(np.arange(3), 4)


def test_unigram_baseline_matches_entropy_by_hand() -> None:
    train = np.array([0, 0, 0, 1])  # add-one counts: 4, 2 -> p = 2/3, 1/3
    test = np.array([0, 1])
    want = -(math.log2(2 / 3) + math.log2(1 / 3)) / 2
    assert text.unigram_bits_per_char(train, test, 2) == pytest.approx(want)
    assert text.bits_per_char(math.log(2.0)) == pytest.approx(1.0)


def test_sample_next_follows_the_distribution() -> None:
    rng = np.random.default_rng(0)
    draws = [text.sample_next(np.array([0.0, math.log(3.0)]), rng) for _ in range(4000)]
    assert np.mean(draws) == pytest.approx(0.75, abs=0.03)
    assert text.sample_next(np.array([1e4, 0.0, -1e4]), rng) == 0
