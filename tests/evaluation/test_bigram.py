"""The word-bigram baseline for phoneme-to-text: a Kneser-Ney bigram that sums to one, and a
Viterbi search over the lexicon's candidates that lets context pick among homophones and
near misses where the lookup cannot."""

import math
from collections import Counter

from avsr.evaluation.bigram import EOS, BigramDecoder, BigramLM, tune_weight
from avsr.p2t.lexicon import DictionaryDecoder
from avsr.text import g2p_many

SENTENCES = [
    "they left their coats over there",
    "put it over there",
    "their house is big",
    "the cat sat on the mat",
    "we saw their cat",
]


def test_probabilities_sum_to_one_over_the_vocabulary():
    lm = BigramLM(s.split() for s in SENTENCES)
    vocab = set(lm.continuation) | {"never-seen"}
    for prev in ("their", "over", "<s>", "unseen-context"):
        seen = sum(math.exp(lm.logp(w, prev)) for w in lm.continuation)
        unseen = math.exp(lm.logp("never-seen", prev))  # one unseen word's share
        assert 0.97 < seen + unseen <= 1.0 + 1e-9, (prev, seen, unseen)
    assert lm.logp("coats", "their") > lm.logp("coats", "there")
    assert lm.logp(EOS, "there") > lm.logp(EOS, "their")
    assert len(vocab) > 10


def test_context_picks_the_homophone_the_lookup_cannot():
    counts = Counter(w for s in SENTENCES for w in s.split())
    lexicon = DictionaryDecoder(counts)
    lm = BigramLM(s.split() for s in SENTENCES)
    dec = BigramDecoder(lexicon, lm)
    (ph,) = g2p_many(["put it over their"])  # said "there": the same phonemes
    assert dec(ph) == "put it over there"
    (ph,) = g2p_many(["they left there coats"])
    assert dec(ph) == "they left their coats"
    said = lexicon(g2p_many(["they left their coats"])[0]).split()[2]
    assert lexicon(ph).split()[2] == said  # the lookup: one spelling for both
    assert dec([]) == ""


def test_weight_is_tuned_on_the_given_pairs():
    counts = Counter(w for s in SENTENCES for w in s.split())
    dec = BigramDecoder(DictionaryDecoder(counts), BigramLM(s.split() for s in SENTENCES))
    inputs = g2p_many(SENTENCES)
    weight, wers = tune_weight(dec, inputs, SENTENCES, grid=(1.0, 8.0))
    assert set(wers) == {1.0, 8.0} and dec.weight == weight and wers[weight] == min(wers.values())
