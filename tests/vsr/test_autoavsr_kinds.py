"""The Auto-AVSR audio-only and audio-visual models and the subword Transformer LM against the
independent reference (ESPnet espnet==202511 + torchvision, tests/autoavsr_reference.py): small
sizes, random weights and BatchNorm statistics, saved the way the published files are, loaded
by avsr; the joint search with and without the LM gives ESPnet's top 5."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("espnet")
from autoavsr_reference import Reference, lm_peer_state_dict, lm_reference, peer_state_dict  # noqa: E402

from avsr.core.errors import CheckpointError  # noqa: E402
from avsr.vsr.autoavsr import AutoAVSR, AutoAVSRConfig, fit_audio, standardise  # noqa: E402
from avsr.vsr.autoavsr_files import load_lm, load_published, to_layout, to_ours  # noqa: E402
from avsr.vsr.lm import LMConfig, TransformerLM  # noqa: E402
from avsr.vsr.search import JointSearch, SearchConfig  # noqa: E402

EOS = 5048


def _inputs(frames: int, seed: int, extra: int = 333):
    g = torch.Generator().manual_seed(seed)
    video = torch.randn(1, 1, frames, 88, 88, generator=g)
    wave = torch.randn(frames * 640 + extra, generator=g)
    return video, wave


def _audio_for(kind: str, wave: torch.Tensor, frames: int) -> torch.Tensor:
    return standardise(fit_audio(wave, frames) if kind == "avsr" else wave)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """kind -> (reference, ours loaded from the reference's file), and the LM pair."""
    d = tmp_path_factory.mktemp("kinds")
    out = {}
    for kind in ("vsr", "asr", "avsr"):
        ref = Reference(kind=kind).randomise(0)
        layout = "head" if kind == "asr" else "v1"
        torch.save(peer_state_dict(ref, layout), d / f"{kind}.pth")
        ours, info = load_published(d / f"{kind}.pth", kind)
        assert info["layout"] == layout and info["config"]["kind"] == kind
        out[kind] = (ref, ours)
    lm, conf = lm_reference()
    (d / "lm").mkdir()
    torch.save(lm_peer_state_dict(lm), d / "lm" / "model.pth")
    (d / "lm" / "model.json").write_text(json.dumps(conf))
    ours_lm, info = load_lm(d / "lm" / "model.pth", 5049)
    assert info["config"]["layers"] == 2 and len(info["sha256"]) == 64
    out["lm"] = (lm, ours_lm)
    return out


@pytest.mark.parametrize("kind", ["asr", "avsr"])
def test_encoders_agree_with_the_reference(models, kind):
    ref, ours = models[kind]
    video, wave = _inputs(30, seed=1)
    audio = _audio_for(kind, wave, 30)
    with torch.no_grad():
        enc_ref = ref.encode(video, audio)
        enc, lengths = ours.encode(video, torch.tensor([30]), [audio])
    assert lengths.tolist() == [30] and enc.shape == enc_ref.shape
    assert torch.allclose(enc, enc_ref, atol=1e-4)
    assert torch.allclose(ours.ctc_log_probs(enc), ref.ctc.log_softmax(enc_ref), atol=1e-4)


def test_lm_scores_agree_with_espnet_by_forward_and_by_cached_steps(models):
    ref, ours = models["lm"]
    ys = torch.tensor([[EOS, 5, 77, 4000, 12, 999, EOS]])
    with torch.no_grad():
        h, _ = ref.encoder(ref.embed(ys), ref._target_mask(ys))
        theirs = ref.decoder(h).log_softmax(-1)
        assert torch.allclose(ours(ys), theirs, atol=1e-4)
        state, steps = ours.init_state(1, "cpu"), []
        for t in range(ys.shape[1]):
            lp, state = ours.step(ys[:, t], state)
            steps.append(lp)
    assert torch.allclose(torch.stack(steps, 1), theirs, atol=1e-4)


def test_lm_with_sinusoidal_positions_agrees_too(tmp_path):
    ref, conf = lm_reference(pos_enc="sinusoidal", seed=3)
    ours = TransformerLM(LMConfig(layers=2, d_model=64, heads=4, ffn=128, embed=32, pos_enc="sinusoidal"))
    ours.load_state_dict(lm_peer_state_dict(ref))
    ys = torch.tensor([[EOS, 9, 8, 7, 6]])
    with torch.no_grad():
        h, _ = ref.encoder(ref.embed(ys), ref._target_mask(ys))
        assert torch.allclose(ours.eval()(ys), ref.decoder(h).log_softmax(-1), atol=1e-4)


def _search(model, enc, lengths, w, lm=None, lm_weight=0.0, beam=10, nbest=5):
    cfg = SearchConfig(beam=beam, ctc_weight=w, nbest=nbest, lm_weight=lm_weight)
    return JointSearch(model.decoder, cfg, EOS, EOS, lm=lm)(enc, lengths, model.ctc_log_probs(enc))


@pytest.mark.parametrize("kind", ["vsr", "asr", "avsr"])
@pytest.mark.parametrize("w", [0.1, 0.0, 1.0])
@pytest.mark.parametrize("with_lm", [False, True])
def test_joint_search_gives_the_references_top5(models, kind, w, with_lm):
    ref, ours = models[kind]
    ref_lm, our_lm = models["lm"] if with_lm else (None, None)
    lw = 0.3 if with_lm else 0.0
    video, wave = _inputs(12, seed=2)  # 12 frames: random weights never choose <eos>, the last step forces it
    audio = _audio_for(kind, wave, 12)
    with torch.no_grad():
        enc, lengths = ours.encode(video, torch.tensor([12]), [audio])
        (hyps,) = _search(ours, enc, lengths, w, our_lm, lw)
        theirs = ref.beam_search(ref.encode(video, audio)[0], 10, w, ref_lm, lw)[:5]
    assert [h.tokens for h in hyps] == [[t for t in h.yseq[1:].tolist() if t != EOS] for h in theirs]
    assert [h.score for h in hyps] == pytest.approx([float(h.score) for h in theirs], abs=1e-3)


def test_lm_fusion_with_end_detection_gives_the_references_top5(models):
    ref = Reference().randomise(0)
    with torch.no_grad():
        ref.decoder.output_layer.bias[EOS] += 4.0  # hypotheses now end by themselves ...
        ref.ctc.ctc_lo.bias[0] += 8.0  # ... and CTC agrees that little was said
    ours = AutoAVSR(
        AutoAVSRConfig(d_model=96, heads=4, encoder_layers=2, encoder_ffn=192, decoder_layers=1, decoder_ffn=192)
    )
    ours.load_state_dict(to_ours(peer_state_dict(ref)))
    ours.eval()
    ref_lm, our_lm = models["lm"]
    video, _ = _inputs(40, seed=2)
    with torch.no_grad():
        enc, lengths = ours.encode(video, torch.tensor([40]))
        (hyps,) = _search(ours, enc, lengths, 0.1, our_lm, 0.3)
        theirs = ref.beam_search(ref.encode(video)[0], 10, 0.1, ref_lm, 0.3)[:5]
    assert [h.tokens for h in hyps] == [[t for t in h.yseq[1:].tolist() if t != EOS] for h in theirs]
    assert not any(h.forced_end for h in hyps)


@pytest.mark.parametrize("kind", ["asr", "avsr"])
def test_a_batch_of_different_lengths_decodes_as_its_items_one_by_one(models, kind):
    _, ours = models[kind]
    _, our_lm = models["lm"]
    clips = [_inputs(n, seed=10 + n, extra=n * 37) for n in (14, 9)]
    lengths = torch.tensor([14, 9])
    video = torch.zeros(2, 1, 14, 88, 88)
    video[0], video[1, :, :9] = clips[0][0][0], clips[1][0][0]
    audio = [_audio_for(kind, w, n) for (_, w), n in zip(clips, (14, 9))]
    with torch.no_grad():
        enc, out_len = ours.encode(video, lengths, audio)
        both = _search(ours, enc, out_len, 0.1, our_lm, 0.3, beam=6, nbest=3)
        for i, (v, _) in enumerate(clips):
            n = int(lengths[i])
            alone_enc, alone_len = ours.encode(v, torch.tensor([n]), [audio[i]])
            assert torch.allclose(enc[i, :n], alone_enc[0], atol=1e-5)
            (alone,) = _search(ours, alone_enc, alone_len, 0.1, our_lm, 0.3, beam=6, nbest=3)
            assert [h.tokens for h in both[i]] == [h.tokens for h in alone]


@pytest.mark.parametrize("kind,layouts,tensors", [("asr", ("v1", "head"), 767), ("avsr", ("v1",), 1380)])
def test_full_size_key_shape_maps_equal_the_reference_on_meta(kind, layouts, tensors):
    with torch.device("meta"):
        ref = Reference(d=768, heads=12, ffn=3072, enc_layers=12, dec_layers=6, kind=kind, hidden=8192)
        ours = AutoAVSR(AutoAVSRConfig(kind=kind))
    for layout in layouts:
        theirs = {k: tuple(v.shape) for k, v in peer_state_dict(ref, layout).items()}
        mine = {k: tuple(v.shape) for k, v in to_layout(ours.state_dict(), layout).items()}
        assert {k.replace(".pointwise_conv", ".pointwise_cov"): v for k, v in mine.items()} == theirs
        assert len(mine) == tensors
    n = sum(p.numel() for p in ours.parameters())
    assert (240e6 < n < 246e6) if kind == "asr" else (440e6 < n < 448e6)


def test_full_size_lm_key_shape_map_equals_espnets_on_meta():
    with torch.device("meta"):
        ref, _ = lm_reference(layers=16, d=512, heads=8, ffn=2048, embed=128)
        ours = TransformerLM(LMConfig())
    theirs = {k: tuple(v.shape) for k, v in lm_peer_state_dict(ref).items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == theirs
    assert theirs["embed.weight"] == (5049, 128) and theirs["decoder.weight"] == (5049, 512)


def test_files_are_told_apart_and_a_wrong_flag_says_which(models, tmp_path):
    for kind in ("vsr", "asr", "avsr"):
        torch.save(peer_state_dict(models[kind][0]), tmp_path / f"{kind}.pth")
    torch.save(lm_peer_state_dict(models["lm"][0]), tmp_path / "lm.pth")
    for path, flag, says in [
        ("asr", "vsr", "audio-only .ASR. checkpoint, not an Auto-AVSR visual .VSR. checkpoint: give it with --asr"),
        ("vsr", "asr", "visual .VSR. checkpoint, not an Auto-AVSR audio-only .ASR. checkpoint: give it with --vsr"),
        ("avsr", "vsr", "audio-visual .AVSR. checkpoint.*give it with --avsr"),
        ("lm", "avsr", "language model.*give it with --lm"),
        ("asr", "lm", "give it with --asr"),
    ]:
        with pytest.raises(CheckpointError, match=says):
            if flag == "lm":
                load_lm(tmp_path / f"{path}.pth", 5049)
            else:
                load_published(tmp_path / f"{path}.pth", flag)


def test_lm_files_that_do_not_fit_are_refused(models, tmp_path):
    ref, conf = models["lm"][0], lm_reference()[1]
    (tmp_path / "lm").mkdir()
    path = tmp_path / "lm" / "model.pth"
    torch.save(lm_peer_state_dict(ref), path)
    with pytest.raises(CheckpointError, match="needs its model.json"):
        load_lm(path, 5049)
    (tmp_path / "lm" / "model.json").write_text(json.dumps(conf | {"layer": 16}))
    with pytest.raises(CheckpointError, match="model.json does not fit the weights: it says layer=16, they have 2"):
        load_lm(path, 5049)
    (tmp_path / "lm" / "model.json").write_text(json.dumps([80, 5049, conf]))
    with pytest.raises(CheckpointError, match="JSON object of its sizes"):
        load_lm(path, 5049)
    (tmp_path / "lm" / "model.json").write_text("import os; os.system('echo executed')")
    with pytest.raises(CheckpointError, match="not a JSON file"):
        load_lm(path, 5049)
    (tmp_path / "lm" / "model.json").write_text(json.dumps(conf))
    with pytest.raises(CheckpointError, match="this language model has 5049 units, the recognition model 500"):
        load_lm(path, 500)
    other, conf_other = lm_reference(vocab=300)
    torch.save(lm_peer_state_dict(other), path)
    with pytest.raises(CheckpointError, match="another vocabulary"):
        load_lm(path, 5049)
