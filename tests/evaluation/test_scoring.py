"""Scoring, alignment, bootstrap, tables and the published-numbers table on known inputs."""

import csv
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
from avsr.evaluation.scoring import corpus_wer, score
from avsr.evaluation.tables import ResultRow, results_markdown, snr_grid, summarize, write_csv


def test_one_normalizer_for_refs_and_hyps():
    s = score("IT'S 2 O'CLOCK!", "it's two o'clock")
    assert s["ref"] == s["hyp"] == "it's two o'clock" and s["edits"] == 0 and s["ref_words"] == 3
    s = score("The Cat, sat.", "the hat sat down")
    assert (s["edits"], s["substitutions"], s["deletions"], s["insertions"]) == (2, 1, 0, 1)


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
            ("one two three four five", "one two three four five six"),
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
