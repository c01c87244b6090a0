"""WER vs phoneme error rate (avsr.evaluation.p2t) and the script behind the README's table."""

import json
import runpy
import sys
from collections import Counter
from pathlib import Path

import pytest

from avsr.core.jsonl import write_jsonl
from avsr.evaluation.p2t import differences, differences_table, markdown_table, plot, wer_vs_per
from avsr.p2t.lexicon import DictionaryDecoder
from avsr.text import g2p

SENTS = [
    "the cat sat on the mat",
    "she had your dark suit in greasy wash water all year",
    "go forward ten meters",
    "a critic is a bundle of biases held loosely together by a sense of taste",
    "experience teaches us that silence terrifies people the most",
    "will you please have your master call my master at his convenience",
]


def _records():
    return [{"id": f"s{i}", "text": t, "phonemes": g2p(t)} for i, t in enumerate(SENTS)]


def test_every_system_sees_the_same_seeded_errors_and_the_oracle_wins():
    recs = _records()
    lex = DictionaryDecoder(Counter(w for t in SENTS for w in t.split()))
    truth = {tuple(r["phonemes"]): r["text"] for r in recs}
    seen: dict[str, list] = {}

    def oracle(batch):  # the reference sentences (batches follow the records' order)
        seen.setdefault("oracle", []).append(batch)
        return [r["text"] for r in recs]

    def lookup(batch):
        seen.setdefault("lookup", []).append(batch)
        return [lex(p) for p in batch]

    rows = wer_vs_per(recs, {"dictionary lookup": lookup, "oracle": oracle}, (0.0, 0.3))
    assert seen["oracle"] == seen["lookup"]  # the same noisy phonemes for both systems
    assert [tuple(p) for p in seen["lookup"][0]] == list(truth)  # rate 0: the clean phonemes
    assert rows == wer_vs_per(recs, {"dictionary lookup": lookup, "oracle": oracle}, (0.0, 0.3))  # seeded
    by = {(r["system"], r["error_rate"]): r for r in rows}
    assert by["oracle", 0.3]["wer"] == 0 and by["dictionary lookup", 0.3]["wer"] > by["dictionary lookup", 0.0]["wer"]
    assert by["oracle", 0.3]["measured_per"] > 0.15 and by["oracle", 0.0]["measured_per"] == 0
    u = by["dictionary lookup", 0.3]["utterances"]
    assert sum(x["edits"] for x in u) / sum(x["ref_words"] for x in u) == pytest.approx(
        by["dictionary lookup", 0.3]["wer"]
    )
    d = {x["error_rate"]: x for x in differences(rows, "dictionary lookup")}
    assert (
        d[0.3]["diff"] == pytest.approx(-by["dictionary lookup", 0.3]["wer"])
        and d[0.3]["high"] < 0
        and d[0.3]["p_a_better"] == 1.0
    )
    assert "| oracle | 30% |" in differences_table(list(d.values())) and "oracle WER" in markdown_table(rows)


def test_p2t_wer_script_tunes_saves_and_writes_every_output(tiny_lm, tmp_path, monkeypatch):
    import avsr.p2t.model as m
    from avsr.p2t.bigram import BigramLM
    from avsr.p2t.model import P2TConfig, add_lora, save_adapter
    from avsr.p2t.rescore import DECODING

    corpus = tmp_path / "corpus"
    write_jsonl(corpus / "train.jsonl", [{"id": f"t{i}", "text": t} for i, t in enumerate(SENTS * 2)])
    write_jsonl(corpus / "heldout.jsonl", _records())
    cfg = P2TConfig(base="unused", lora_r=8, lora_alpha=16, max_new_tokens=16, hint="lexicon")
    model, _ = tiny_lm()
    lex = DictionaryDecoder.from_corpus([{"text": t} for t in SENTS])
    bigram = BigramLM(t.split() for t in SENTS * 2)
    adapter = save_adapter(add_lora(model, cfg), tmp_path / "adapter", cfg, lexicon=lex, bigram=bigram)
    monkeypatch.setattr(m, "load_base", lambda c: tiny_lm())

    def run(*extra):
        monkeypatch.setattr(
            sys,
            "argv",
            [
                "p2t_wer.py",
                "--adapter",
                str(adapter),
                "--corpus",
                str(corpus),
                "--sentences",
                "4",
                "--rates",
                "0",
                "0.2",
                "--batch-size",
                "4",
                *extra,
            ],
        )
        with pytest.raises(SystemExit) as e:
            runpy.run_path(str(Path(__file__).parents[2] / "eval" / "p2t_wer.py"), run_name="__main__")
        assert e.value.code == 0
        return tmp_path / extra[-1]

    run("-o", str(tmp_path / "greedy"))  # no decoding.json yet: the two baselines and the LLM's greedy sentence
    greedy = json.loads((tmp_path / "greedy" / "results.json").read_text())
    assert [r["system"] for r in greedy["wer"]][:3] == [
        "dictionary lookup",
        "word bigram + lexicon",
        "LoRA LLM (unused + lexicon hint)",
    ] and len(greedy["wer"]) == 6
    assert not (adapter / DECODING).exists()
    out = tmp_path / "eval"
    run("--tune", "2", "-o", str(out))
    dec = json.loads((adapter / DECODING).read_text())
    assert dec["rescore"] and "held-out sentences 4..5" in dec["tuned_on"]
    assert {
        "results.json",
        "results.md",
        "utterances.jsonl",
        "wer_vs_per.png",
        "tuning.json",
        "bigram_tuning.json",
    } <= {p.name for p in out.iterdir()}
    res = json.loads((out / "results.json").read_text())
    systems = {r["system"] for r in res["wer"]}
    by = {(r["system"], r["error_rate"]): r["wer"] for r in res["wer"]}
    assert all(
        by[k] == r["wer"]
        for r in greedy["wer"]
        if "bigram" not in r["system"]
        for k in [(r["system"], r["error_rate"])]
    )  # greedy = the candidates' first (the bigram's weight was retuned on the 2 tuning sentences)
    assert len(systems) == 4 and any("rescoring" in s for s in systems)
    # against the lookup: the bigram and two LLM systems; against the bigram: the two LLM systems; x two rates
    assert len(res["differences"]) == (3 + 2) * 2
    assert {d["baseline"] for d in res["differences"]} == {"dictionary lookup", "word bigram + lexicon"}
    lines = [json.loads(x) for x in (out / "utterances.jsonl").read_text().splitlines()]
    assert len(lines) == 4 * 2 * 4 and {x["id"] for x in lines} == {
        "s0",
        "s1",
        "s2",
        "s3",
    }  # the tuning sentences are not scored

    # every option on: one system per option added, each tuned, all from one set of candidates
    out = run("--tune", "2", "--hybrids", "--bigram", "--no-boundaries", "-o", str(tmp_path / "ablations"))
    tuning = json.loads((out / "tuning.json").read_text())
    assert (
        list(tuning["systems"])
        == [
            "phoneme rescoring",
            "phoneme rescoring + hybrids",
            "phoneme rescoring + hybrids + word bigram",
        ]
        and "word boundaries removed" in tuning["tuned_on"]
    )
    res = json.loads((out / "results.json").read_text())
    assert len({r["system"] for r in res["wer"]}) == 2 + 1 + 3
    lines = [json.loads(x) for x in (out / "utterances.jsonl").read_text().splitlines()]
    assert lines and all("|" not in x["phonemes"] for x in lines)  # the inputs had no boundaries
    # the shipping script takes one system's settings from the run
    ship = tmp_path / "ship"
    monkeypatch.setattr(
        sys,
        "argv",
        ["ship_p2t.py", str(adapter), str(ship), "--tuning", str(out / "tuning.json"), "--system", "phoneme rescoring"],
    )
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(Path(__file__).parents[2] / "data_prep" / "ship_p2t.py"), run_name="__main__")
    assert e.value.code == 0
    shipped = json.loads((ship / DECODING).read_text())
    assert shipped["rescore"] and not shipped["hybrids"] and not shipped["bigram"]
    assert shipped["channel_weight"] == tuning["systems"]["phoneme rescoring"]["chosen"]["channel_weight"]
    from safetensors.torch import load_file

    half = load_file(ship / "adapter_model.safetensors")
    full = load_file(adapter / "adapter_model.safetensors")
    assert all(half[k].dtype == __import__("torch").float16 and half[k].shape == full[k].shape for k in full)
    assert {p.name for p in ship.iterdir()} == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "p2t_config.json",
        "lexicon_counts.json",
        "bigram_counts.tsv.gz",
        "decoding.json",
    }


def test_plot_is_written(tmp_path):
    rows = [
        {"system": s, "error_rate": r, "measured_per": r, "wer": w, "sentences": 1}
        for s, r, w in [("a", 0.0, 0.1), ("a", 0.2, 0.5), ("b", 0.0, 0.2), ("b", 0.2, 0.4)]
    ]
    plot(rows, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
