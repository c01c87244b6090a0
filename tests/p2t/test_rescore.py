"""Phoneme-consistency rescoring: scores, candidate choice, tuning, decoding settings on disk."""

import json
from collections import Counter

import pytest
import torch

from avsr.evaluation.p2t import tune_channel_weight
from avsr.p2t.lexicon import DictionaryDecoder
from avsr.p2t.model import P2TConfig, PhonemeToText, add_lora, generate, generate_nbest, load_p2t, save_adapter
from avsr.p2t.prompt import collate_examples, encode_example
from avsr.p2t.rescore import DECODING, Candidates, DecodingConfig, answer_logprobs, hybrids, phoneme_distances
from avsr.text import g2p

CFG = P2TConfig(base="unused", lora_r=8, lora_alpha=16, max_new_tokens=24)


def test_phoneme_distance_counts_phoneme_and_boundary_edits():
    ph = g2p("the cat sat")
    assert phoneme_distances(["the cat sat", "the cat sad", "the catsat", ""], [ph] * 4) == [0, 1, 1, len(ph)]
    assert phoneme_distances(["the cat", "the cat"], [g2p("the cat"), g2p("the hat")]) == [
        0,
        1,
    ]  # each text against its own target


def test_best_trades_lm_score_against_phoneme_distance():
    c = Candidates(("fluent but wrong", "close reading"), (-2.0, -9.0), (6, 1))
    assert c.best(0.0) == "fluent but wrong"  # the LM alone
    assert c.best(1.0) == "fluent but wrong"  # -8 vs -10
    assert c.best(2.0) == "close reading"  # -14 vs -11
    assert Candidates(("a", "b"), (-1.0, -1.0), (0, 0)).best(5.0) == "a"  # ties keep the LM's own sentence


def test_hybrids_swap_one_differing_region_at_a_time():
    lookup, lm = "the cat sad on the mats", "the cat sat on a mat"
    got = hybrids(lookup, lm)
    # two regions, sad/sat and "the mats"/"a mat": each mixture arises from both sides, kept once
    assert sorted(got) == ["the cat sad on a mat", "the cat sat on the mats"]
    assert (
        hybrids("you will not escape", "you will not escape from the") == []
    )  # one region: the mixtures are the two readings
    assert hybrids("a b c", "a b c") == [] and hybrids("", "a") == []
    assert "the dog sat here" in hybrids("the cat sat here", "the dog sat there")
    assert len(hybrids(" ".join("abcdefghijklmnopqrst"), " ".join("aBcDeFgHiJkLmNoPqRsT"), limit=3)) == 6


def test_tuning_picks_the_lowest_wer_weight():
    cands = [
        Candidates(("the cat sat", "the cap sad"), (-1.0, -3.0), (0, 2)),
        Candidates(("a dog barked loudly", "a dog parked"), (-1.0, -4.0), (5, 1)),
    ]
    weight, wers = tune_channel_weight(cands, ["the cat sat", "a dog parked"], grid=(0.0, 0.5, 1.0, 4.0))
    assert wers[0.0] > 0 and wers[1.0] == 0 and weight == 1.0  # the smallest weight that gets both right


def test_answer_logprob_is_the_training_loss(tiny_lm):
    model, tok = tiny_lm()
    ph = g2p("the cat sat")
    ex = encode_example(tok, ph, "the cat sat", 128)
    b = collate_examples([ex], tok.pad_token_id)
    with torch.no_grad():
        loss = model(**b).loss
    n = sum(1 for x in ex["labels"] if x != -100)
    got = answer_logprobs(
        model, tok, [(ph, None), (ph, None)], ["the cat sat", "the cat sat on the mat"], 128, batch_size=2
    )
    assert got[0] == pytest.approx(-float(loss) * n, rel=1e-4)
    alone = answer_logprobs(model, tok, [(ph, None)], ["the cat sat on the mat"], 128)
    assert got[1] == pytest.approx(alone[0], rel=1e-4)  # padding in a batch changes nothing
    # candidates sharing a prompt (its KV cache copied to each answer), mixed with other prompts
    # and with a hint, each equal to its own training loss
    ph2 = g2p("go forward ten meters")
    pairs = [
        ((ph, None), "the cat sat"),
        ((ph2, "go for ten"), "go forward ten meters"),
        ((ph, None), "a cat"),
        ((ph2, "go for ten"), "go"),
        ((ph2, None), "go forward"),
    ]
    for limit in (128, 40):  # at 40 tokens long answers cut their prompts shorter than short answers do
        check_pairs(model, tok, pairs, limit)


def check_pairs(model, tok, pairs, limit):
    got = answer_logprobs(model, tok, [p for p, _ in pairs], [a for _, a in pairs], limit, batch_size=4)
    for ((phs, hint), a), g in zip(pairs, got):
        e = encode_example(tok, phs, a, limit, hint)
        with torch.no_grad():
            ref = -float(model(**collate_examples([e], tok.pad_token_id)).loss) * sum(
                1 for x in e["labels"] if x != -100
            )
        assert g == pytest.approx(ref, rel=1e-4)


def test_nbest_is_distinct_and_greedy_matches_generate(tiny_lm):
    model, tok = tiny_lm()
    model = add_lora(model, CFG).eval()
    phs = [g2p("the cat sat"), g2p("go forward ten meters")]
    nb = generate_nbest(model, tok, phs, 12, beams=3)
    assert len(nb) == 2 and all(1 <= len(n) <= 3 and len(set(n)) == len(n) for n in nb)
    assert [n[0] for n in generate_nbest(model, tok, phs, 12)] == generate(model, tok, phs, 12)


def test_rescoring_chooses_among_lm_and_lookup_candidates(tiny_lm, tmp_path):
    model, tok = tiny_lm()
    model = add_lora(model, P2TConfig(base="unused", lora_r=8, lora_alpha=16, max_new_tokens=24, hint="lexicon")).eval()
    lex = DictionaryDecoder(Counter({"the": 10, "cat": 5, "sat": 5}))
    phs = [g2p("the cat sat"), g2p("go forward")]
    cfg = P2TConfig(base="unused", max_new_tokens=24, hint="lexicon")
    p2t = PhonemeToText(model, tok, cfg, lex, DecodingConfig(rescore=True, channel_weight=1e6))
    cands = p2t.candidates(phs)
    for c, ph in zip(cands, phs):
        assert lex(ph) in c.texts and len(c.texts) == len(c.logp) == len(c.dist)
    # a random tiny LM writes garbage: with a huge channel weight the phoneme-exact lookup wins
    assert p2t(phs) == [lex(ph) for ph in phs] == ["the cat sat", "go forward"]
    p2t.decoding = DecodingConfig(rescore=True, channel_weight=0.0)
    assert p2t(phs) == [max(zip(c.logp, c.texts))[1] for c in cands]
    p2t.decoding = DecodingConfig(rescore=True, hybrids=True)
    for c, plain, ph in zip(p2t.candidates(phs), cands, phs):
        assert c.texts[: len(plain.texts)] == plain.texts and c.logp[: len(plain.texts)] == pytest.approx(
            plain.logp, abs=1e-4
        )
        assert set(c.texts[len(plain.texts) :]) == set(hybrids(lex(ph), plain.texts[0]))
    p2t.decoding = DecodingConfig()  # greedy, as trained
    assert p2t(phs) == generate(model, tok, phs, 24, hints=p2t.hints(phs))


def test_bigram_candidates_sources_and_phonemes_without_boundaries(tiny_lm):
    from avsr.p2t.bigram import BigramDecoder, BigramLM
    from avsr.text import BOUNDARY

    model, tok = tiny_lm()
    cfg = P2TConfig(base="unused", lora_r=8, lora_alpha=16, max_new_tokens=24, hint="lexicon")
    model = add_lora(model, cfg).eval()
    sents = ["the cat sat on the mat", "go forward ten meters"]
    lex = DictionaryDecoder(Counter(w for t in sents for w in t.split()))
    bigram = BigramDecoder(lex, BigramLM(t.split() for t in sents))
    phs = [g2p(t) for t in sents]
    on = DecodingConfig(rescore=True, hybrids=True, bigram=True, channel_weight=1e6)
    p2t = PhonemeToText(model, tok, cfg, lex, on, bigram)
    cands = p2t.candidates(phs)
    for c, ph in zip(cands, phs):
        assert c.sources[0][0] == "llm" and len(c.sources) == len(c.texts)
        assert "bigram" in c.sources[c.texts.index(bigram(ph))] and "lookup" in c.sources[c.texts.index(lex(ph))]
        fewer = c.only({"llm", "lookup"})  # the same scores, fewer candidates
        assert fewer.texts[0] == c.texts[0] and set(fewer.texts) <= set(c.texts)
        assert all("lookup" in s or "llm" in s for s in fewer.sources)
        assert fewer.logp == tuple(c.logp[c.texts.index(t)] for t in fewer.texts)
    assert p2t(phs) == sents  # the phoneme-exact readings win at a huge channel weight
    bare = [[p for p in ph if p != BOUNDARY] for ph in phs]
    assert p2t(bare, boundaries=False) == sents  # the boundaries placed by the bigram search
    assert [c.dist[c.texts.index(t)] for c, t in zip(p2t.candidates(bare, boundaries=False), sents)] == [0, 0]
    assert p2t([[], [BOUNDARY]], boundaries=False) == ["", ""]
    no_bigram = PhonemeToText(model, tok, cfg, lex, on)
    with pytest.raises(Exception, match="no word boundaries"):
        no_bigram(bare, boundaries=False)


def test_decoding_settings_travel_with_the_adapter(tiny_lm, tmp_path, monkeypatch):
    import avsr.p2t.model as m

    model, tok = tiny_lm()
    folder = save_adapter(add_lora(model, CFG), tmp_path / "adapter", CFG)
    monkeypatch.setattr(m, "load_base", lambda cfg: tiny_lm())
    assert load_p2t(folder).decoding == DecodingConfig()  # no decoding.json: greedy
    assert DecodingConfig().describe() == "greedy"
    assert (
        DecodingConfig(rescore=True, beams=4).describe()
        == "phoneme-consistency rescoring (w=2 nats per phoneme edit; LM 4-best + lookup)"
    )
    assert (
        DecodingConfig(rescore=True, hybrids=True)
        .describe()
        .endswith("LM greedy sentence + lookup + LM/lookup hybrids)")
    )
    DecodingConfig(rescore=True, channel_weight=3.0, tuned_on="test").save(folder)
    assert json.loads((folder / DECODING).read_text())["channel_weight"] == 3.0
    assert load_p2t(folder).decoding.channel_weight == 3.0
    assert load_p2t(folder, decoding=DecodingConfig()).decoding.rescore is False  # an explicit setting wins
    (folder / DECODING).write_text(json.dumps({"channel_weight": 1.0, "script": "import os"}))
    with pytest.raises(ValueError, match="unknown"):
        load_p2t(folder)


def test_lattice_search_scores_equal_full_rescoring_and_beam_all_is_exhaustive(tiny_lm):
    from itertools import product

    from avsr.p2t.lattice import lattice_search

    model, tok = tiny_lm(3)
    ph = g2p("the cat sat on the mat")
    ex = encode_example(tok, ph, "", 128, "the cat sad on the mats?")
    prompt = ex["input_ids"][: ex["labels"].count(-100)]
    # words of one token and of several, so that sequences of a step differ in length
    options = [
        [("the", 0), ("a", 2)],
        [("cat", 0), ("catalogue", 3), ("hat", 1)],
        [("sat", 1), ("sad", 0)],
        [("mat", 1), ("mats", 0), ("meters", 3)],
    ]
    w = 0.7
    paths = [(" ".join(x for x, _ in p), sum(d for _, d in p)) for p in product(*options)]
    lp = answer_logprobs(model, tok, [(ph, "the cat sad on the mats?")] * len(paths), [t for t, _ in paths], 128)
    exact = sorted(((t, a - w * d) for (t, d), a in zip(paths, lp)), key=lambda x: -x[1])
    got = lattice_search(model, tok, prompt, options, beam=len(paths), channel_weight=w)
    assert [t for t, _ in got] == [t for t, _ in exact]
    assert [s for _, s in got] == pytest.approx([s for _, s in exact], abs=1e-3)
    top = lattice_search(model, tok, prompt, options, beam=3, channel_weight=w)
    assert len(top) == 3 and top[0][1] <= exact[0][1] + 1e-3  # a narrow beam finds no path better than the best
    assert lattice_search(model, tok, prompt, [], beam=3) == []


def test_alternatives_are_near_spellings_with_homophones():
    lex = DictionaryDecoder(Counter({"to": 50, "two": 10, "too": 5, "cat": 5, "cap": 3, "sat": 5}))
    alts = lex.alternatives(g2p("two"), limit=6)
    assert alts[0] == ("to", 0) and {w for w, d in alts if d == 0} >= {"to", "two", "too"}
    assert all(d <= 1 for _, d in alts)
    noisy = lex.alternatives(["K", "AE", "D"], limit=4)  # "cad": one edit from cat and cap
    assert noisy[0][0] == lex.word(["K", "AE", "D"]) and ("cat", 1) in noisy and len(noisy) <= 4


def test_prior_scores_and_weight_tuning(tiny_lm):
    from avsr.evaluation.p2t import tune_weights
    from avsr.p2t.rescore import PRIOR_PROMPT, prior_example

    model, tok = tiny_lm(1)
    ex = prior_example(tok, "the cat sat", 128)
    assert tok.decode(ex["input_ids"]).startswith(PRIOR_PROMPT + " the cat sat")
    with torch.no_grad():
        loss = model(**collate_examples([ex], tok.pad_token_id)).loss
    got = answer_logprobs(model, tok, [None, (g2p("the cat sat"), None)], ["the cat sat", "the cat sat"], 128)
    assert got[0] == pytest.approx(-float(loss) * sum(1 for x in ex["labels"] if x != -100), rel=1e-4)
    assert got[0] != pytest.approx(got[1])  # the prior does not see the phonemes
    # the direct model prefers a drifted sentence, the prior and the phonemes the right one
    c = Candidates(("drifted", "right"), (-1.0, -6.0), (3, 1), prior=(-9.0, -2.0))
    assert c.best(0.0) == "drifted" and c.best(0.0, prior_weight=1.0) == "right" and c.best(1.0, 0.0, 0.0) == "right"
    assert c.choose(DecodingConfig(rescore=True, channel_weight=0.0, prior_weight=1.0)) == "right"
    chosen, wers = tune_weights([c], ["right"])
    assert wers[(chosen["direct_weight"], chosen["prior_weight"], chosen["channel_weight"])] == 0.0
    assert (
        DecodingConfig(rescore=True, lattice=4, prior_weight=1.0)
        .describe()
        .startswith("phoneme-consistency rescoring (w=2 nats per phoneme edit, 1 x direct + 1 x LM prior")
    )


def test_lattice_sentences_join_the_candidates(tiny_lm):
    model, tok = tiny_lm(2)
    cfg = P2TConfig(base="unused", max_new_tokens=24, hint="lexicon")
    lex = DictionaryDecoder(Counter({"the": 10, "cat": 5, "sat": 5, "hat": 2}))
    p2t = PhonemeToText(
        add_lora(model, cfg).eval(), tok, cfg, lex, DecodingConfig(rescore=True, lattice=3, lattice_words=3)
    )
    ph = ["DH", "AH", "|", "K", "AE", "D", "|", "S", "AE", "T"]
    (c,) = p2t.candidates([ph])
    found = p2t.lattice(ph)
    assert 1 <= len(found) <= 3 and set(found) <= set(c.texts) and len(c.prior) == len(c.texts)
    assert all(len(t.split()) == 3 for t in found)
    assert p2t([ph]) == [c.choose(p2t.decoding)]
