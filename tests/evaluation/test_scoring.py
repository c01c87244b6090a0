"""Scoring, alignment, bootstrap, tables and the published-numbers table on known inputs."""

import csv
import json
import math

import numpy as np
import pytest

from avsr.core.metrics import (
    CORRECT,
    DELETION,
    INSERTION,
    SUBSTITUTION,
    align,
    bootstrap_interval,
    edits,
    paired_bootstrap,
)
from avsr.evaluation.published import PublishedError, canonical_condition, guess_corpus, load_published, published_table
from avsr.evaluation.report import alignment_html, crop_strip, markdown_table_html, pick_examples
from avsr.evaluation.scoring import corpus_wer, normaliser_name, score
from avsr.evaluation.tables import ResultRow, results_markdown, snr_grid, summarize, write_csv


def test_one_normalizer_for_refs_and_hyps():
    """Whisper's English normaliser on both sides: written and spoken forms score no error."""
    s = score("march third nineteen twenty eight", "March 3rd, 1928")  # LRS reference, Whisper-style output
    assert s["ref"] == s["hyp"] == "march 3rd 1928" and s["edits"] == 0 and s["ref_words"] == 3
    for ref, hyp in [
        ("twenty dollars", "$20"),
        ("the color of it", "The colour of it."),
        ("it is late and i will not go", "It's late, and I won't go!"),
        ("MISTER SMITH'S IN THE NINETEEN NINETIES", "Mr. Smith's in the 1990s"),
    ]:
        assert score(ref, hyp)["edits"] == 0, (ref, hyp, score(ref, hyp))
    s = score("The Cat, sat.", "the hat sat down")
    assert (s["edits"], s["substitutions"], s["deletions"], s["insertions"]) == (2, 1, 0, 1)
    assert normaliser_name().startswith("Whisper English (transformers ")


# What whisper-tiny.en says for the speech fixtures (avsr.adapters.ct2_bank.CT2Bank("whisper-tiny.en"),
# default DecodingOptions, each file whole; test_real_whisper_output_is_what_whisper_says re-decodes two)
TINY_EN = {
    "cmu_arctic/arctic_a0007": "and you always want to see it in the superlative degree.",
    "cmu_arctic/arctic_a0009": "He turned sharply and faced Gregson across the table.",
    "goforward_16k": "Go forward 10 meters.",
    "pocketsphinx_cards/001": "10 of clubs.",
    "pocketsphinx_cards/002": "4. Queen of Clothes",
    "pocketsphinx_cards/003": "7 of clubs.",
    "pocketsphinx_cards/004": "5 5",
    "pocketsphinx_cards/005": "Eight of spades, four of close, seven of hearts.",
    "pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0870": "And Mr. John Dashwood had then leisure to "
    "consider how much there might be prudently in his power to do for them.",
    "pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0880": "He was not an old-sposed young man.",
    "pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0890": "Unless to be rather cold-hearted and rather "
    "selfish is to be ill-disposed.",
    "pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0920": "Had he married a more amiable woman, he might "
    "have been made still more respectable than he was.",
    "pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0930": "He might even have been made amiable himself.",
    "something_16k": "Go somewhere and do something.",
}
MR_DASHWOOD = "pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0870"


def _fixture_references():
    from avtools import FIXTURES

    from avsr.recipes.audio import speech_records

    return {r["id"]: r for r in speech_records(FIXTURES / "speech")}


def test_real_whisper_output_scored_against_the_fixture_transcripts():
    """Real references (LibriVox, CMU ARCTIC, pocketsphinx transcripts) against real Whisper
    output: "Mr." and "10" meet the references' "mister" and "ten" (the G2P normaliser counted
    "mister"/"mr" as an error); Whisper's own quirk stays, as in every paper that uses it:
    spoken "five five" runs together ("55") while written "5 5" does not."""
    from avsr.core.metrics import error_rate
    from avsr.text import normalize

    refs = _fixture_references()
    assert set(refs) == set(TINY_EN)
    us = {i: score(refs[i]["text"], TINY_EN[i]) for i in TINY_EN}
    assert us[MR_DASHWOOD]["edits"] == 0 and us["goforward_16k"]["edits"] == 0
    assert us["pocketsphinx_cards/004"]["ref"] == "55" and us["pocketsphinx_cards/004"]["hyp"] == "5 5"
    old = [(normalize(refs[i]["text"]).split(), normalize(TINY_EN[i]).split()) for i in TINY_EN]
    assert edits(*old[list(TINY_EN).index(MR_DASHWOOD)]) == 1  # mister / mr
    assert error_rate([r for r, _ in old], [h for _, h in old]) == pytest.approx(6 / 121)  # before
    assert corpus_wer(us.values()) == pytest.approx(7 / 120)  # now


def test_real_whisper_output_is_what_whisper_says():
    """Two of those outputs, decoded again from the fixture audio, scored against their files."""
    from avsr.adapters.ct2_bank import CT2Bank
    from avsr.core.audio import read_audio
    from avsr.whisper.decoding import DecodingOptions

    refs = _fixture_references()
    bank = CT2Bank("whisper-tiny.en")
    for i in ("goforward_16k", MR_DASHWOOD):
        a = read_audio(refs[i]["audio"])
        said = bank.decode(bank.features(a), audio=[a], opts=DecodingOptions())[0].text
        assert said == TINY_EN[i] and score(refs[i]["text"], said)["edits"] == 0


def test_alignment_on_known_strings():
    ops = align("the cat sat on the mat".split(), "the cat sit on mat today".split())
    assert [(a.op, a.ref, a.hyp) for a in ops] == [
        (CORRECT, "the", "the"),
        (CORRECT, "cat", "cat"),
        (SUBSTITUTION, "sat", "sit"),
        (CORRECT, "on", "on"),
        (DELETION, "the", None),
        (CORRECT, "mat", "mat"),
        (INSERTION, None, "today"),
    ]
    assert [a.op for a in align([], ["a", "b"])] == [INSERTION] * 2 and [a.op for a in align(["a"], [])] == [DELETION]


def test_alignment_edit_count_equals_levenshtein():
    rng = np.random.default_rng(0)
    words = ["a", "b", "c", "d"]
    for _ in range(300):
        r = list(rng.choice(words, rng.integers(0, 8)))
        h = list(rng.choice(words, rng.integers(0, 8)))
        ops = align(r, h)
        assert sum(a.op != CORRECT for a in ops) == edits(r, h)
        assert [a.ref for a in ops if a.ref is not None] == r and [a.hyp for a in ops if a.hyp is not None] == h


def test_highlighting_markup():
    out = alignment_html("the cat sat on the mat", "the cat sit on mat today")
    classes = [c.split('"')[0] for c in out.split('class="w ')[1:]]
    assert classes == ["c", "c", "s", "c", "d", "c", "i"]
    assert "<span>sat</span><span>sit</span>" in out and "<span>today</span>" in out
    assert "&lt;b&gt;" in alignment_html("<b>", "x")  # escaped, not markup


def test_corpus_wer_and_bootstrap_interval():
    us = [
        score(r, h)
        for r, h in [
            ("a b c d", "a b c d"),
            ("a b", "a x"),
            ("a b c", "a"),
            ("e f g h i", "e f g h i j"),  # letters: Whisper's normaliser reads number words as one number
        ]
    ]
    assert corpus_wer(us) == pytest.approx((0 + 1 + 2 + 1) / (4 + 2 + 3 + 5))
    e, w = [u["edits"] for u in us], [u["ref_words"] for u in us]
    lo, hi = bootstrap_interval(e, w, 1000, seed=0)
    assert lo <= corpus_wer(us) <= hi and 0 <= lo < hi <= 1
    assert bootstrap_interval(e, w, 1000, seed=0) == (lo, hi)  # seeded
    assert all(math.isnan(x) for x in bootstrap_interval(e, w, 0))
    # more utterances of the same kind: a narrower interval around the same rate; the seed matters
    lo4, hi4 = bootstrap_interval(e * 25, w * 25, 1000, seed=0)
    assert hi4 - lo4 < (hi - lo) / 3 and lo4 <= corpus_wer(us) <= hi4
    assert (
        bootstrap_interval(e * 25, w * 25, 1000, seed=0)
        == (lo4, hi4)
        != bootstrap_interval(e * 25, w * 25, 1000, seed=1)
    )


def _utts():
    out = []
    for cond, cat, snr, hyps in [
        ("clean", "clean", None, ["a b c", "d e"]),
        ("babble 0 dB", "babble", 0.0, ["a x c", ""]),
    ]:
        for i, (ref, hyp) in enumerate(zip(["a b c", "d e"], hyps)):
            out.append(
                {
                    "id": f"u{i}",
                    "system": "asr",
                    "set": "none",
                    "condition": cond,
                    "category": cat,
                    "snr": snr,
                    **score(ref, hyp),
                }
            )
    return out


def test_rows_tables_and_csv(tmp_path):
    rows = summarize(_utts(), 200, seed=0)
    assert [r.condition for r in rows] == ["clean", "babble 0 dB"]
    assert (
        rows[0].wer == 0
        and rows[1].wer == pytest.approx(3 / 5)
        and (rows[1].substitutions, rows[1].deletions) == (1, 2)
    )
    md = results_markdown(rows)
    assert "| asr | none | babble 0 dB | 60.0 |" in md and "95% CI" in md
    assert "| asr | none | babble | 0.0 | 60.0 |" in snr_grid(rows)
    write_csv(rows, tmp_path / "r.csv")
    got = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert (
        [g["condition"] for g in got] == ["clean", "babble 0 dB"]
        and got[1]["wer"] == "0.600000"
        and got[0]["snr"] == ""
    )
    picks = pick_examples(_utts())[("asr", "none", "babble 0 dB")]
    assert [label for label, _ in picks] == ["worst", "median"] and picks[0][1][
        "id"
    ] == "u1"  # 2 utterances: best == median


def test_every_results_file_names_the_normaliser(tmp_path):
    from avsr.evaluation.run import write_run

    rows, md = write_run(tmp_path, _utts(), [{"id": "u0"}, {"id": "u1"}], {"system": "asr"}, None, ("asr",), "x")
    name = normaliser_name()
    assert f"- normaliser: {name}" in md.splitlines() and md == (tmp_path / "results.md").read_text()
    assert json.loads((tmp_path / "run.json").read_text())["normaliser"] == name
    assert {c["normaliser"] for c in csv.DictReader(open(tmp_path / "results.csv"))} == {name}
    assert name.replace("'", "&#x27;") in (tmp_path / "report.html").read_text()


def test_markdown_table_to_html():
    h = markdown_table_html("| a | b |\n| --- | ---: |\n| **x** | y \\| z |")
    assert h == "<table><tr><th>a</th><th>b</th></tr><tr><td><b>x</b></td><td>y | z</td></tr></table>"


def test_crop_strip_spans_the_clip():
    crops = np.stack([np.full((88, 88), i, np.uint8) for i in range(50)])
    s = crop_strip(crops, 8)
    assert s.shape == (88, 8 * 88 + 7 * 2)
    assert s[0, 0] == 0 and s[0, -1] == 49  # first and last frame


PUB = """
- {system: SysA, paper: "A et al. 2024", arxiv: "2401.00001", corpus: LRS3, task: asr, condition: clean, wer: 1.5, \
labelled_hours: 30, source: "paper Table 2", notes: ""}
- {system: SysB, paper: "B et al. 2023", arxiv: "2301.00002", corpus: LRS3, task: asr, condition: "natural 0 dB", \
wer: 3.2, labelled_hours: null, source: "github.com/b/b README", notes: "MUSAN"}
- {system: SysC, paper: "C 2022", arxiv: "", corpus: LRS2, task: asr, condition: clean, wer: 9.9, \
labelled_hours: null, source: "C Table 1", notes: ""}
"""


def test_published_table_shows_sources_beside_this_run(tmp_path):
    p = tmp_path / "pub.yaml"
    p.write_text(PUB)
    entries = load_published(p)
    rows = [
        ResultRow("asr", "none", "clean", "clean", None, 0.05, 0.04, 0.06, 10, 100, 5, 3, 1, 1),
        ResultRow("asr", "none", "noise 0 dB", "noise", 0.0, 0.2, 0.1, 0.3, 10, 100, 20, 10, 5, 5),
    ]
    t = published_table(entries, "LRS3", ["asr"], rows, "asr tiny")
    lines = t.splitlines()
    assert "source" in lines[0]
    assert any("SysA" in ln and "| 1.5 |" in ln and "paper Table 2" in ln and "| 30 |" in ln for ln in lines)
    assert any(
        "SysB" in ln and "github.com/b/b README" in ln and ln.startswith("| noise 0 dB") for ln in lines
    )  # natural = MUSAN noise
    assert any("this run: asr tiny [none]" in ln and "**5.0**" in ln and "95% CI 4.0-6.0" in ln for ln in lines)
    assert "SysC" not in t  # LRS2 entry
    assert "No published LRS2 numbers for vsr" in published_table(entries, "LRS2", ["vsr"], rows, "x")
    assert (
        canonical_condition("Natural -10 dB") == "noise -10 dB"
        and guess_corpus("/data/lrs3_roi/test/manifest.jsonl") == "LRS3"
    )
    assert guess_corpus("/data/test/manifest.jsonl") is None


@pytest.mark.parametrize(
    "text,msg",
    [
        ("- {system: X, corpus: LRS3}", "missing paper"),
        ("{system: X}", "expected a YAML list"),
        ("- [1, 2]", "not a mapping"),
        (
            "- {system: X, paper: p, arxiv: a, corpus: LRS4, task: asr, condition: clean, wer: 1, "
            "labelled_hours: null, source: s, notes: n}",
            "corpus must be one of",
        ),
        (
            "- {system: X, paper: p, arxiv: a, corpus: LRS3, task: asr, condition: clean, wer: 1, "
            "labelled_hours: null, source: '', notes: n}",
            "source must say",
        ),
        ("- {system: X\n  bad: [", "not valid YAML"),
    ],
)
def test_malformed_published_file_is_refused_clearly(tmp_path, text, msg):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(PublishedError, match=msg):
        load_published(p)


def test_repository_published_file_is_valid():
    from avsr.evaluation.published import DEFAULT_PATH

    if not DEFAULT_PATH.is_file():
        pytest.skip("eval/published.yaml not in this checkout")
    entries = load_published(DEFAULT_PATH)
    assert entries and all(e["source"] for e in entries)
    assert "VALLR" in published_table(entries, "LRS3", ["vsr"], [], "x")


def test_paired_bootstrap_of_a_wer_difference():
    rng = np.random.default_rng(3)
    words = rng.integers(5, 15, 200)
    base = rng.binomial(words, 0.5)
    same = paired_bootstrap(base, base, words)
    assert same == {"diff": 0.0, "low": 0.0, "high": 0.0, "p_a_better": 0.0}
    better = np.maximum(base - rng.integers(0, 3, 200), 0)  # never worse, usually better
    d = paired_bootstrap(better, base, words)
    assert d["diff"] == pytest.approx((better.sum() - base.sum()) / words.sum())
    assert d["low"] <= d["diff"] <= d["high"] < 0 and d["p_a_better"] == 1.0
    assert paired_bootstrap(better, base, words) == d  # seeded
    noisy = base + rng.integers(-1, 2, 200)  # as often better as worse: the interval spans 0
    n = paired_bootstrap(noisy, base, words)
    assert n["low"] < 0 < n["high"] and 0.02 < n["p_a_better"] < 0.98
    with pytest.raises(ValueError, match="same utterances"):
        paired_bootstrap(base[:3], base, words)
