"""The Auto-AVSR visual model and its decoding against an independent reference built from ESPnet
(espnet==202511, the modules the published models were trained and decoded with) and
torchvision: small size with random weights and BatchNorm statistics, saved the way the
published files are, loaded by avsr."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

pytest.importorskip("espnet")
from autoavsr_reference import Reference, peer_state_dict  # noqa: E402

from avsr.core.errors import CheckpointError  # noqa: E402
from avsr.vsr.autoavsr import AutoAVSR, AutoAVSRConfig  # noqa: E402
from avsr.vsr.autoavsr_files import load_published, to_layout, to_ours  # noqa: E402
from avsr.vsr.decode import beam_search, greedy_decode  # noqa: E402
from avsr.vsr.search import JointSearch, SearchConfig  # noqa: E402

EOS = 5048


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(reference, our model loaded from the reference's file in the HEAD layout, that file)."""
    ref = Reference().randomise(0)
    path = tmp_path_factory.mktemp("autoavsr") / "head.pth"
    torch.save(peer_state_dict(ref, "head"), path)
    model, info = load_published(path)
    assert info["layout"] == "head" and len(info["sha256"]) == 64
    return ref, model, path


def _video(t: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(1, 1, t, 88, 88, generator=torch.Generator().manual_seed(seed))


def test_both_layouts_load_strictly_and_agree_with_the_reference(pair, tmp_path):
    ref, model, _ = pair
    torch.save(peer_state_dict(ref, "v1"), tmp_path / "v1.pth")
    v1, info = load_published(tmp_path / "v1.pth")
    assert info["layout"] == "v1"
    for k, v in model.state_dict().items():
        assert torch.equal(v, v1.state_dict()[k]), k
    video = _video(30)
    with torch.no_grad():
        assert torch.allclose(model.encoder.frontend(video), ref.encoder.frontend(video), atol=1e-4)
        enc_ref, enc = ref.encode(video), model.encode(video, torch.tensor([30]))[0]
        assert torch.allclose(enc, enc_ref, atol=1e-4)
        assert torch.allclose(model.ctc_log_probs(enc), ref.ctc.log_softmax(enc_ref), atol=1e-4)
        from espnet.nets.pytorch_backend.transformer.mask import subsequent_mask

        ys = torch.tensor([[EOS, 17, 4000, 250, 1, 3333, 9]])
        dec_ref = ref.decoder(ys, subsequent_mask(7).unsqueeze(0), enc_ref, None)[0]
        assert torch.allclose(model.decoder(ys, enc, torch.tensor([30])), dec_ref, atol=1e-4)


def _ours(model, video, beam, w, nbest=5):
    t = video.shape[2]
    with torch.no_grad():
        enc = model.encode(video, torch.tensor([t]))[0]
        return JointSearch(model.decoder, SearchConfig(beam=beam, ctc_weight=w, nbest=nbest), EOS, EOS)(
            enc, torch.tensor([t]), model.ctc_log_probs(enc)
        )[0]


def _theirs(ref, video, beam, w):
    with torch.no_grad():
        hyps = ref.beam_search(ref.encode(video)[0], beam, w)[:5]
    return [[t for t in h.yseq[1:].tolist() if t != EOS] for h in hyps], [float(h.score) for h in hyps]


@pytest.mark.parametrize("w", [0.1, 0.0, 1.0])
def test_beam_search_gives_the_references_top5_when_eos_is_forced(pair, w):
    ref, model, _ = pair
    video = _video(12, seed=2)  # 12 frames: random weights never choose <eos>, the last step forces it
    ours = _ours(model, video, 10, w)
    seqs, scores = _theirs(ref, video, 10, w)
    assert [h.tokens for h in ours] == seqs
    assert [h.score for h in ours] == pytest.approx(scores, abs=1e-3)
    if w < 1.0:
        assert all(h.forced_end for h in ours)


@pytest.mark.parametrize("w", [0.1, 0.0])
def test_beam_search_gives_the_references_top5_with_end_detection(w):
    ref = Reference().randomise(0)
    with torch.no_grad():
        ref.decoder.output_layer.bias[EOS] += 4.0  # hypotheses now end by themselves ...
        ref.ctc.ctc_lo.bias[0] += 8.0  # ... and CTC agrees that little was said
    model = AutoAVSR(
        AutoAVSRConfig(d_model=96, heads=4, encoder_layers=2, encoder_ffn=192, decoder_layers=1, decoder_ffn=192)
    )
    model.load_state_dict(to_ours(peer_state_dict(ref)))
    model.eval()
    video = _video(40, seed=2)
    ours = _ours(model, video, 10, w)
    seqs, scores = _theirs(ref, video, 10, w)
    assert [h.tokens for h in ours] == seqs
    assert [h.score for h in ours] == pytest.approx(scores, abs=1e-3)
    assert not any(h.forced_end for h in ours)


def test_utterances_batched_decode_as_one_by_one(pair):
    _, model, _ = pair
    a, b = _video(14, seed=3), _video(9, seed=4)
    video = torch.zeros(2, 1, 14, 88, 88)
    video[0], video[1, :, :9] = a[0], b[0]
    lengths = torch.tensor([14, 9])
    with torch.no_grad():
        enc = model.encode(video, lengths)[0]
        both = JointSearch(model.decoder, SearchConfig(beam=6, nbest=3), EOS, EOS)(
            enc, lengths, model.ctc_log_probs(enc)
        )
    for got, clip in zip(both, (a, b)):
        alone = _ours(model, clip, 6, 0.1, nbest=3)
        assert [h.tokens for h in got] == [h.tokens for h in alone]
        assert [h.score for h in got] == pytest.approx([h.score for h in alone], abs=1e-3)


@pytest.mark.parametrize("layout", ["v1", "head"])
def test_full_size_key_shape_map_equals_the_reference_on_meta(layout):
    with torch.device("meta"):
        ref = Reference(d=768, heads=12, ffn=3072, enc_layers=12, dec_layers=6)
        ours = AutoAVSR(AutoAVSRConfig())
    theirs = {k: tuple(v.shape) for k, v in peer_state_dict(ref, layout).items()}
    mine = {k: tuple(v.shape) for k, v in to_layout(ours.state_dict(), layout).items()}
    mine = {k.replace(".pointwise_conv", ".pointwise_cov"): v for k, v in mine.items()}
    assert mine == theirs
    assert len(mine) == 767
    n = sum(p.numel() for p in ours.parameters())
    assert 240e6 < n < 260e6


def _brute_force(logp: torch.Tensor) -> tuple[list[int], list[int]]:
    """(best path collapsed, most probable labelling) by enumerating every alignment."""
    t, v = logp.shape
    paths = {}
    best_path, best_lp = None, -math.inf
    for path in itertools.product(range(v), repeat=t):
        lp = float(sum(logp[i, c] for i, c in enumerate(path)))
        lab = tuple(c for i, c in enumerate(path) if c != 0 and (i == 0 or path[i - 1] != c))
        paths[lab] = float(torch.logaddexp(torch.tensor(paths.get(lab, -math.inf)), torch.tensor(lp)))
        if lp > best_lp:
            best_path, best_lp = lab, lp
    return list(best_path), list(max(paths, key=paths.get))


@pytest.mark.parametrize("seed", range(4))
def test_ctc_greedy_and_prefix_beam_against_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    logp = torch.log_softmax(torch.randn(5, 4, generator=g) * 1.5, -1)
    path, labelling = _brute_force(logp)
    n = torch.tensor([5])
    assert greedy_decode(logp[None], n) == [path]
    assert beam_search(logp[None], n, beam=64, prune=-1e9) == [labelling]


def test_prefix_beam_with_a_candidate_cap_keeps_the_best_on_peaky_posteriors():
    g = torch.Generator().manual_seed(5)
    logp = torch.log_softmax(torch.randn(2, 60, 300, generator=g) * 6, -1)  # CTC-like: one unit dominates a frame
    n = torch.tensor([60, 41])
    assert beam_search(logp, n, beam=8, candidates=4) == beam_search(logp, n, beam=8)


def test_bad_checkpoints_are_refused_with_a_reason(tmp_path, pair):
    _, _, good = pair
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_published(cut)

    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    evil = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, evil)
    with pytest.raises(CheckpointError, match="never executes"):
        load_published(evil)
    foreign = tmp_path / "foreign.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, foreign)
    with pytest.raises(CheckpointError, match="not an Auto-AVSR checkpoint or language model: expected"):
        load_published(foreign)
    renamed = tmp_path / "vsr_trlrs3_base.pth"  # a published name: its md5 must be the published one
    renamed.write_bytes(good.read_bytes())
    with pytest.raises(CheckpointError, match="incomplete download"):
        load_published(renamed)
    sd = torch.load(good, weights_only=True)
    sd.pop("decoder.after_norm.weight")
    torch.save(sd, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_published(tmp_path / "partial.pth")
