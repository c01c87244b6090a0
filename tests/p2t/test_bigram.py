"""The word-bigram decoder for phoneme-to-text: a Kneser-Ney bigram that sums to one and saves
to the same bytes every time, a Viterbi search over the lexicon's candidates that lets context
pick among homophones and near misses where the lookup cannot, and the same search placing word
boundaries in phonemes that have none (the VALLR model's)."""

import math
from collections import Counter

from avsr.evaluation.bigram import tune_weight
from avsr.p2t.bigram import BIGRAM_COUNTS, EOS, BigramDecoder, BigramLM, load_bigram
from avsr.p2t.lexicon import DictionaryDecoder
from avsr.text import BOUNDARY, g2p_many

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


def _decoder(weight: float = 8.0) -> BigramDecoder:
    counts = Counter(w for s in SENTENCES for w in s.split())
    return BigramDecoder(DictionaryDecoder(counts), BigramLM(s.split() for s in SENTENCES), weight)


def test_counts_save_and_load_to_the_same_model(tmp_path):
    lm = BigramLM(s.split() for s in SENTENCES)
    lm.save(tmp_path / "a.tsv.gz")
    lm.save(tmp_path / "b.tsv.gz")
    assert (tmp_path / "a.tsv.gz").read_bytes() == (tmp_path / "b.tsv.gz").read_bytes()  # a checksum can pin it
    back = BigramLM.load(tmp_path / "a.tsv.gz")
    for prev, w in (("their", "coats"), ("<s>", "the"), ("over", "unseen"), ("unseen", EOS)):
        assert math.isclose(back.logp(w, prev), lm.logp(w, prev))
    (tmp_path / "bad.tsv.gz").write_bytes(__import__("gzip").compress(b"just words\n"))
    try:
        BigramLM.load(tmp_path / "bad.tsv.gz")
    except ValueError as e:
        assert "bad.tsv.gz:1" in str(e)
    else:
        raise AssertionError("a malformed counts file was read")
    assert load_bigram(tmp_path) is None  # a folder without BIGRAM_COUNTS
    lm.save(tmp_path / BIGRAM_COUNTS)
    assert load_bigram(tmp_path, DictionaryDecoder()).lm.bigrams == lm.bigrams


def test_boundaries_are_placed_in_phonemes_without_them():
    dec = _decoder()
    for sentence in ("the cat sat on the mat", "put it over there", "they left their coats"):
        (ph,) = g2p_many([sentence])
        bare = [p for p in ph if p != BOUNDARY]
        assert dec(bare, boundaries=False) == sentence
        assert dec.segment(bare) == ph  # the boundaries where the words are
        assert dec.segment(ph) == ph  # boundaries given are dropped and placed again
    assert dec([], boundaries=False) == "" and dec.segment([]) == []


def test_segmentation_survives_recognition_errors():
    dec = _decoder()
    (ph,) = g2p_many(["they left their coats"])
    bare = [p for p in ph if p != BOUNDARY]
    assert bare[-1] == "S" and not dec.lexicon.lookup(["K", "OW", "T", "F"])[1]  # "coatf" is no word
    assert dec([*bare[:-1], "F"], boundaries=False) == "they left their coats"  # S -> F: one edit
    noisy = [*bare[:2], "ZH", *bare[2:]]  # an inserted phoneme (no word alone): skipped at one edit's cost
    assert dec(noisy, boundaries=False) == "they left their coats"
    assert dec.segment(noisy).count(BOUNDARY) == 3
