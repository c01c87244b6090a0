"""The evaluation harness end to end on a miniature LRS3 test set (real crops, real speech, real
noise) with small random models: every output is written, runs repeat exactly, batching does
not change the text."""

import csv
import json

import matplotlib.image as mpimg
import pytest

from avsr.core.jsonl import read_jsonl
from avsr.data.mixing import read_sources
from avsr.evaluation.conditions import Condition, available_categories, conditions, noise_bank
from avsr.evaluation.decoding import read_manifest, run_whisper
from avsr.evaluation.systems import evaluate_lipreading, evaluate_whisper, load_system
from avsr.recognizers.options import ModelOptions
from avsr.text import normalize_for_wer
from avsr.whisper.decoding import DecodingOptions

SNRS = (5.0, -5.0)
PUB = """
- {system: PubAV, paper: "P et al. 2025", arxiv: "2502.00000", corpus: LRS3, task: avsr, condition: clean, wer: 0.9, \
labelled_hours: 433, source: "P Table 3", notes: ""}
- {system: PubAV, paper: "P et al. 2025", arxiv: "2502.00000", corpus: LRS3, task: avsr, condition: "babble -5 dB", \
wer: 12.5, labelled_hours: 433, source: "P Table 4", notes: ""}
"""


GREEDY = DecodingOptions(temperatures=(0.0,))  # the harness is tested here, the fallback in tests/whisper


def tiny_options(whisper_dir, adapters: bool = True, **kw) -> ModelOptions:
    """The tiny random Whisper (and its two sets) on the torch engine, greedy."""
    kw = {"engine": "torch", "decoding": GREEDY} | kw
    return ModelOptions(
        whisper=str(whisper_dir / "tiny"), adapters=str(whisper_dir / "adapters") if adapters else None, **kw
    )


@pytest.fixture(scope="module")
def avsr_run(lrs3_test, noise_sources, whisper_dir, tmp_path_factory):
    pub = tmp_path_factory.mktemp("pub") / "published.yaml"
    pub.write_text(PUB)
    out = tmp_path_factory.mktemp("run") / "avsr"
    rows, md = evaluate_whisper(
        lrs3_test,
        out,
        system="avsr",
        options=tiny_options(whisper_dir, batch_size=2),
        noise_sources=noise_sources,
        categories=["babble", "music"],
        snrs=SNRS,
        corpus="LRS3",
        published=pub,
        resamples=200,
    )
    return out, rows, md


def test_run_folder_has_every_output(avsr_run, lrs3_test):
    out, rows, md = avsr_run
    N_CLIPS = len(read_manifest(lrs3_test))
    conds = ["clean", "babble 5 dB", "babble -5 dB", "music 5 dB", "music -5 dB"]
    assert [(r.set, r.condition) for r in rows] == [
        (s, c) for s in ("none", "babble", "music") for c in conds
    ]  # clean first
    for r in rows:
        assert r.utterances == N_CLIPS and r.ref_words > 0 and r.edits == r.substitutions + r.deletions + r.insertions
        assert r.ci_low <= r.wer <= r.ci_high
    lines = list(read_jsonl(out / "utterances.jsonl"))
    assert len(lines) == N_CLIPS * len(conds) * 3
    assert {
        "id",
        "system",
        "set",
        "condition",
        "ref",
        "hyp",
        "edits",
        "ref_words",
        "substitutions",
        "deletions",
        "insertions",
    } <= set(lines[0])
    refs = {r["id"]: r["text"] for r in read_manifest(lrs3_test)}
    assert all(u["ref"] == normalize_for_wer(refs[u["id"]]) for u in lines)  # scored as Whisper's normaliser writes it
    csv_rows = list(csv.DictReader(open(out / "results.csv")))
    assert [(c["set"], c["condition"]) for c in csv_rows] == [(r.set, r.condition) for r in rows]
    assert float(csv_rows[0]["wer"]) == pytest.approx(rows[0].wer, abs=1e-6)
    text = (out / "results.md").read_text()
    assert (
        text == md and "| avsr | babble | babble -5 dB |" in text and "| avsr | none | music |" in text
    )  # main table + SNR grid
    assert (
        "PubAV" in text and "P Table 4" in text and "this run: avsr tiny [babble]" in text
    )  # published beside this run
    for name, panels in (("wer_vs_snr.png", 3), ("wer_by_category.png", 2)):
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[1] > 400 * min(panels, 3) and img.std() > 0.01
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= N_CLIPS + 2  # crop strips of the examples, and both plots
    assert 'class="strip u0"' in html and 'class="w ' in html and "substitution" in html and "insertion" in html
    assert json.loads((out / "run.json").read_text())["utterances"] == N_CLIPS


def test_two_runs_give_identical_numbers(avsr_run, lrs3_test, noise_sources, whisper_dir, tmp_path):
    out, _, _ = avsr_run
    pub = out.parent.parent / [p for p in out.parent.parent.iterdir() if p.name.startswith("pub")][0] / "published.yaml"
    evaluate_whisper(
        lrs3_test,
        tmp_path,
        system="avsr",
        options=tiny_options(whisper_dir, batch_size=3),
        noise_sources=noise_sources,
        categories=["babble", "music"],
        snrs=SNRS,
        corpus="LRS3",
        published=pub,
        resamples=200,
    )
    for name in ("utterances.jsonl", "results.csv", "results.md"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_batched_decoding_equals_one_by_one(lrs3_test, noise_sources, whisper_dir):
    records = read_manifest(lrs3_test)
    N_CLIPS = len(records)
    rec, sets = load_system(tiny_options(whisper_dir, batch_size=N_CLIPS, decoding=None), None)
    bank = noise_bank(read_sources(noise_sources), ["babble"], seed=0)
    conds = conditions(["babble"], [0.0])
    batched = run_whisper(rec, records, conds, sets, bank, visual=True, system="avsr")
    rec.batch_size = 1
    single = run_whisper(rec, records, conds, sets, bank, visual=True, system="avsr")  # fallback sampling included
    assert [u["hyp"] for u in batched] == [u["hyp"] for u in single]
    rec.batch_size = N_CLIPS
    audio_only = run_whisper(rec, records, conds, ["babble"], bank, visual=False)
    with_crops = [u for u in batched if u["set"] == "babble"]
    assert [u["hyp"] for u in audio_only] != [u["hyp"] for u in with_crops]  # the set's fusion uses the crops
    none = [u["hyp"] for u in batched if u["set"] == "none"]
    assert none != [u["hyp"] for u in batched if u["set"] == "music"]  # sets change the output


def test_noise_conditions_are_exact_and_seeded(lrs3_test, noise_sources):
    from avsr.core.audio import read_audio
    from avsr.data.mixing import snr_db
    from avsr.evaluation.conditions import condition_audio

    sources = read_sources(noise_sources)
    assert available_categories(sources) == ("babble", "music", "noise", "sidespeaker")
    bank = noise_bank(sources, ["babble", "noise"], seed=0)
    r = read_manifest(lrs3_test)[0]
    a = read_audio(r["audio"])
    m = condition_audio(bank, r["id"], a, Condition("noise", -5.0))
    assert abs(snr_db(a, m - a) + 5.0) < 0.1
    assert (condition_audio(bank, r["id"], a, Condition("noise", -5.0)) == m).all()
    assert not (
        condition_audio(noise_bank(sources, ["noise"], seed=1), r["id"], a, Condition("noise", -5.0)) == m
    ).all()
    assert condition_audio(bank, r["id"], a, Condition()) is a


def test_lipreading_with_dictionary_lookup(lrs3_test, vsr_ckpt, tmp_path):
    N_CLIPS = len(read_manifest(lrs3_test))
    opts = ModelOptions(vsr=str(vsr_ckpt), p2t="lexicon", batch_size=2)
    rows, md = evaluate_lipreading(lrs3_test, tmp_path, options=opts, corpus="LRS3", published=None, resamples=100)
    assert (
        len(rows) == 1
        and rows[0].system == "vsr"
        and rows[0].set == "lexicon"
        and rows[0].per is not None
        and rows[0].per > 0
    )
    lines = list(read_jsonl(tmp_path / "utterances.jsonl"))
    assert len(lines) == N_CLIPS and all(u["ref_phonemes"] and u["phoneme_edits"] >= 0 for u in lines)
    assert (
        "PER %" in md and (tmp_path / "report.html").is_file() and not (tmp_path / "wer_vs_snr.png").exists()
    )  # no SNR axis for video only


def test_clips_longer_than_a_whisper_window_are_cut_as_transcribe_cuts_them(whisper_dir, tmp_path):
    import numpy as np
    from avtools import FIXTURES

    from avsr.core.audio import read_audio, write_wav
    from avsr.evaluation.decoding import utterance_texts

    rec, _ = load_system(tiny_options(whisper_dir, adapters=False), None)
    a = read_audio(FIXTURES / "goforward_16k.wav")
    long = np.tile(a, int(31 * 16000 / len(a)) + 1)  # > 30 s
    texts, per = utterance_texts(rec, [a, long], None, "none")
    assert [len(p) for p in per] == [1, 2]  # two windows for the long clip
    for clip, text in zip((a, long), texts):  # the words avsr transcribe gives for the same audio
        write_wav(tmp_path / "clip.wav", clip)
        assert rec.transcribe(tmp_path / "clip.wav", mode="asr", adapter="none").text == text
