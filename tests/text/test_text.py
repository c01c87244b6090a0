import pytest

from avsr.text import BOUNDARY, PHONEMES, VISEME_OF, VOCAB, g2p, normalize, words_of
from avsr.text.g2p import espeak_available, ipa_to_arpabet
from avsr.text.normalize import number_to_words


@pytest.mark.parametrize(
    "raw, norm",
    [
        ("IT'S A NICE DAY", "it's a nice day"),
        ("Hello,   World!", "hello world"),
        ("“Quoted” — text…", "quoted text"),
        ("2,500 dollars & 3%", "two thousand five hundred dollars and three percent"),
        ("'tis the 'end'", "tis the end"),
        ("rock’n’roll", "rock'n'roll"),
    ],
)
def test_normalize(raw, norm):
    assert normalize(raw) == norm
    assert normalize(norm) == norm  # idempotent


def test_number_words():
    assert number_to_words(0) == "zero"
    assert number_to_words(1984) == "one thousand nine hundred eighty four"
    assert number_to_words(2_000_013) == "two million thirteen"


def test_g2p_dictionary_words():
    assert g2p("Hello world") == ["HH", "AH", "L", "OW", BOUNDARY, "W", "ER", "L", "D"]
    assert g2p("IT'S") == ["IH", "T", "S"]
    assert all(p in PHONEMES or p == BOUNDARY for p in g2p("the quick brown fox jumps over the lazy dog"))


def test_inventory_and_vocab():
    assert len(PHONEMES) == 39 and len(VOCAB) == 41 and VOCAB.blank == 0
    ids = VOCAB.encode(g2p("go forward"))
    assert 0 not in ids and VOCAB.decode(ids) == g2p("go forward")
    with pytest.raises(ValueError, match="unknown phoneme"):
        VOCAB.encode(["AH1"])
    assert set(VISEME_OF) == set(PHONEMES)
    assert VISEME_OF["P"] == VISEME_OF["B"] == VISEME_OF["M"]


def test_words_of():
    assert words_of(["A", "|", "B", "C", "|", "|"]) == [["A"], ["B", "C"]]


def test_ipa_mapping():
    assert ipa_to_arpabet("z_ˈʌ_k_ɚ_b_ˌɜː_ɡ") == ["Z", "AH", "K", "ER", "B", "ER", "G"]
    assert ipa_to_arpabet("tʃ_ˈɛɹ") == ["CH", "EH", "R"]
    assert ipa_to_arpabet("oʊ_b_ˈɑː_m_ə") == ["OW", "B", "AA", "M", "AH"]


@pytest.mark.skipif(not espeak_available(), reason="eSpeak NG is not installed (pip install espeakng-loader)")
def test_out_of_vocabulary_words_use_the_offline_fallback():
    ph = g2p("zuckerbergian lipreadingly")
    words = words_of(ph)
    assert len(words) == 2 and all(len(w) >= 6 for w in words)
    assert words[0][:4] == ["Z", "AH", "K", "ER"]
    assert all(p in PHONEMES for w in words for p in w)


def test_bundled_espeak_runs_in_a_child_process_without_a_system_binary(monkeypatch):
    """With no espeak-ng on PATH, the library from PyPI espeakng-loader is run by
    ``python -m avsr.text.espeak`` in a child process (GPL-3 code never loads into avsr)."""
    import importlib
    import sys

    g2p_module = importlib.import_module("avsr.text.g2p")  # the module (avsr.text.g2p is also the function)

    monkeypatch.setattr(g2p_module.shutil, "which", lambda name: None)
    assert g2p_module.espeak_available()
    out = g2p_module._espeak(["zuckerbergian", "hello"])
    assert out[0][:4] == ["Z", "AH", "K", "ER"] and out[1] == ["HH", "AH", "L", "OW"]
    assert not any(m.startswith("espeakng_loader") for m in sys.modules)
