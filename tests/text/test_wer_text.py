"""Whisper's English normaliser (avsr.text.wer_text), the one every WER scores with: written and
spoken forms of numbers, ordinals, years, currencies, spellings and contractions meet; the
spelling mapping's source is named; no silent run without it."""

from importlib import metadata

import pytest

from avsr.text import NormalizerError, normalize, normalize_for_wer, wer_normalizer, wer_text


@pytest.mark.parametrize(
    "written, spoken, both",
    [
        ("March 3rd, 1928", "march third nineteen twenty eight", "march 3rd 1928"),  # LRS spells dates so
        ("MARCH THIRD NINETEEN TWENTY EIGHT", "March 3rd 1928.", "march 3rd 1928"),
        ("in the 1990s", "in the nineteen nineties", "in the 1990s"),
        ("the 21st century", "the twenty first century", "the 21st century"),
        ("2008", "two thousand and eight", "2008"),
        ("1,000,000", "one million", "1000000"),
        ("$20", "twenty dollars", "$20"),
        ("$3.50", "three dollars and fifty cents", "$3.50"),
        ("€10", "ten euros", "€10"),
        ("25%", "twenty five percent", "25%"),
        ("the colour of the theatre", "the color of the theater", "the color of the theater"),
        ("They've organised it", "they have organized it", "they have organized it"),
        ("I won't go, it's late!", "i will not go it is late", "i will not go it is late"),
        ("Mr. Smith can't", "mister smith can not", "mister smith can not"),
        ("Um, yes (laughs) [noise]", "yes", "yes"),  # fillers and bracketed words dropped
    ],
)
def test_written_and_spoken_forms_meet(written, spoken, both):
    assert normalize_for_wer(written) == normalize_for_wer(spoken) == both


def test_the_g2p_normalizer_stays_as_it_was():
    """normalize() prepares text for pronunciation and training (unchanged); it is not what
    scores: its "three rd" is why dates were counted as errors."""
    assert normalize("March 3rd, 1928") == "march three rd one thousand nine hundred twenty eight"
    assert normalize_for_wer("march three rd one thousand nine hundred twenty eight") != "march 3rd 1928"


def test_the_spelling_mapping_is_whispers_and_its_source_is_named():
    mapping, source = wer_text.english_spelling()
    assert len(mapping) == 1739 and mapping["colour"] == "color" and mapping["organised"] == "organized"
    assert source.startswith("whisper-normalization 1.0.0 english.json, 1739 entries, sha256 6607f948be98")
    assert "identical to openai-whisper's english.json" in source
    name = wer_normalizer().name
    assert name.startswith("Whisper English (transformers 5.23.0 EnglishTextNormalizer; spelling mapping: ")
    assert source in name


def test_no_silent_run_without_the_mapping(monkeypatch):
    """A missing mapping is an error that says what to install; scoring without spellings must
    be asked for, and its name says so."""

    installed = metadata.distribution

    def without_mapping(name):
        if name == wer_text.SPELLING_PACKAGE:
            raise metadata.PackageNotFoundError(name)
        return installed(name)

    monkeypatch.setattr(wer_text.metadata, "distribution", without_mapping)
    with pytest.raises(NormalizerError, match="pip install the pinned whisper-normalization"):
        wer_text.english_spelling()
    with pytest.raises(NormalizerError):
        wer_text.wer_normalizer.__wrapped__()  # what a first wer_normalizer() call would do
    bare = wer_normalizer(spelling=False)
    assert bare.name.endswith("spelling mapping: none (British spellings kept))")
    assert bare("The colour, March 3rd, 1928") == "the colour march 3rd 1928"
