"""The phoneme-to-text adapter that ships: registered with its sha256, under 20 MB, loaded
offline on the registry's SmolLM2 base as every lip reader's default, and the word decoders
(`--p2t lexicon`, `--p2t bigram`) from the same folder's counts."""

import pytest

from avsr.core.metrics import error_rate
from avsr.core.registry import registry, verified_files
from avsr.evaluation.scoring import words
from avsr.p2t.load import SHIPPED, WordDecoder, load_phoneme_to_text, shipped_folder
from avsr.text import BOUNDARY, g2p_many

# everyday sentences, none of them from the training text (Debian's fortunes)
SENTENCES = [
    "please close the window before you leave",
    "we will meet at the station tomorrow morning",
    "the children were playing in the garden",
    "she bought a new coat for the winter",
]


def test_registered_with_checksums_and_small():
    e = registry()[SHIPPED]
    assert e["kind"] == "p2t" and e["base"] == "smollm2-135m-instruct" and e["trained_with"] and e["licence"]
    files = verified_files(SHIPPED)  # raises on a sha256 mismatch
    assert {p.name for p in files} == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "p2t_config.json",
        "lexicon_counts.json",
        "bigram_counts.tsv.gz",
        "decoding.json",
    }
    assert sum(p.stat().st_size for p in files) < 20 * 2**20
    assert {p.name for p in shipped_folder().iterdir() if p.is_file()} <= {p.name for p in files} | {"README.md"}


@pytest.fixture(scope="module")
def shipped():
    return load_phoneme_to_text()


def test_default_reads_clean_phonemes_with_and_without_boundaries(shipped):
    phs = g2p_many(SENTENCES)
    assert shipped.decoding.rescore and shipped.bigram is not None and shipped.lexicon is not None
    lookup = load_phoneme_to_text("lexicon")
    assert isinstance(lookup, WordDecoder)
    refs = [words(s) for s in SENTENCES]
    with_b = shipped(phs)
    assert error_rate(refs, [words(t) for t in with_b]) <= error_rate(refs, [words(t) for t in lookup(phs)])
    bare = [[p for p in ph if p != BOUNDARY] for ph in phs]
    without = shipped(bare, boundaries=False)
    assert error_rate(refs, [words(t) for t in without]) <= error_rate(
        refs, [words(t) for t in lookup(bare, boundaries=False)]
    )
    assert shipped([[], [BOUNDARY]]) == ["", ""]


def test_word_decoders_from_the_shipped_counts():
    phs = g2p_many(SENTENCES[:2])
    bare = [[p for p in ph if p != BOUNDARY] for ph in phs]
    for method in ("lexicon", "bigram"):
        dec = load_phoneme_to_text(method)
        assert dec.method == method and dec.describe()
        assert dec(phs) == SENTENCES[:2], method  # clean phonemes, common words
        assert error_rate([words(s) for s in SENTENCES[:2]], [words(t) for t in dec(bare, boundaries=False)]) < 0.2
