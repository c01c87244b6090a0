import pytest
import torch

import avsr
from avsr.core.errors import CheckpointError
from avsr.core.store import save_checkpoint
from avsr.text import VOCAB
from avsr.vsr import MAX_TIME_STRIDE, PRESETS, VSRConfig, VSRModel, beam_search, greedy_decode


def tiny(**kw):
    return VSRConfig(stem_channels=8, stage_channels=(8, 16), stage_blocks=(1, 1), dim=32, depth=2, heads=2, **kw)


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_shapes_and_lengths(stride):
    m = VSRModel(tiny(time_stride=stride)).eval()
    x = torch.randint(0, 255, (2, 37, 88, 88), dtype=torch.uint8)
    logits, out_len = m(x, torch.tensor([37, 20]))
    assert logits.shape == (2, -(-37 // stride), len(VOCAB))
    assert out_len.tolist() == [-(-37 // stride), -(-20 // stride)]


def test_padding_does_not_change_the_result():
    m = VSRModel(tiny()).eval()
    x = torch.randint(0, 255, (1, 20, 88, 88), dtype=torch.uint8)
    padded = torch.cat([x, torch.randint(0, 255, (1, 9, 88, 88), dtype=torch.uint8)], 1)
    with torch.no_grad():
        a, _ = m(x)
        b, _ = m(padded, torch.tensor([20]))
    assert torch.allclose(a, b[:, :20], atol=1e-4)


def test_inference_front_end_in_chunks_equals_one_pass_over_the_padded_batch():
    """Eval mode runs each clip's own frames through the front-end in INFER_CHUNK_FRAMES chunks
    (with the stem's temporal context); training mode makes one pass over the padded batch.
    Both give the same frame vectors, across chunk edges and at each clip's end."""
    from avsr.vsr.model import INFER_CHUNK_FRAMES

    torch.manual_seed(0)
    m = VSRModel(tiny()).eval()
    t = 2 * INFER_CHUNK_FRAMES + 11
    lengths = torch.tensor([t, INFER_CHUNK_FRAMES + 1, 3])
    video = torch.rand(3, 1, t, 88, 88) * (torch.arange(t)[None] < lengths[:, None])[:, None, :, None, None]
    with torch.no_grad():
        chunked = m.frontend(video, lengths)
        one_pass = m.frontend._frames(video)  # the training path's computation (batch norm in eval mode here)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(chunked[i, :n], one_pass[i, :n], atol=1e-5, rtol=1e-4)
        assert not chunked[i, n:].any()


def test_downsampling_above_the_limit_is_refused():
    with pytest.raises(ValueError, match="temporal downsampling must be 1..4"):
        VSRConfig(time_stride=MAX_TIME_STRIDE + 1)


def test_presets():
    assert PRESETS["vallr"].dim == 768 and PRESETS["vallr"].depth == 12
    assert VSRConfig.from_dict({"preset": "vallr", "time_stride": 2}).time_stride == 2
    with pytest.raises(ValueError, match="unknown VSRConfig field"):
        VSRConfig.from_dict({"layers": 3})


def test_save_load_identical_logits(tmp_path):
    torch.manual_seed(0)
    m = VSRModel(tiny(time_stride=2)).eval()
    x = torch.randint(0, 255, (1, 30, 88, 88), dtype=torch.uint8)
    with torch.no_grad():
        ref, _ = m(x)
    save_checkpoint(tmp_path / "ck", m, "vsr", m.cfg.to_dict())
    m2 = avsr.load_model(tmp_path / "ck")
    with torch.no_grad():
        out, _ = m2(x)
    assert torch.equal(ref, out)


def test_corrupt_checkpoint_is_refused(tmp_path):
    m = VSRModel(tiny())
    save_checkpoint(tmp_path / "ck", m, "vsr", m.cfg.to_dict())
    w = tmp_path / "ck" / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        avsr.load_model(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="not an avsr checkpoint"):
        avsr.load_model(tmp_path)


def _posteriors(path, T=12, V=5, sharp=8.0):
    lp = torch.full((1, T, V), -sharp)
    for t, c in enumerate(path):
        lp[0, t, c] = 0.0
    return lp.log_softmax(-1)


def test_greedy_merges_repeats_and_drops_blanks():
    lp = _posteriors([1, 1, 0, 1, 2, 2, 0, 0, 3, 0, 4, 4])
    assert greedy_decode(lp, torch.tensor([12])) == [[1, 1, 2, 3, 4]]
    assert greedy_decode(lp, torch.tensor([5])) == [[1, 1, 2]]


def test_beam_agrees_with_greedy_on_sharp_posteriors_and_beats_it_on_ambiguous():
    lp = _posteriors([1, 1, 0, 1, 2, 2, 0, 0, 3, 0, 4, 4])
    assert beam_search(lp, torch.tensor([12]), beam=4) == greedy_decode(lp, torch.tensor([12]))
    # frames split between "1" and blank: best path is all-blank (empty), but the label
    # sequence "1" has more total probability (summed over its paths)
    p = torch.tensor([[[0.6, 0.4], [0.6, 0.4], [0.6, 0.4]]]).log()
    assert greedy_decode(p, torch.tensor([3])) == [[]]
    assert beam_search(p, torch.tensor([3]), beam=4, prune=-50) == [[1]]


@pytest.mark.parametrize("stride", [2, 3])
def test_padding_is_neutral_with_downsampling(stride):
    m = VSRModel(tiny(time_stride=stride)).eval()
    x = torch.randint(0, 255, (1, 19, 88, 88), dtype=torch.uint8)
    padded = torch.cat([x, torch.full((1, 8, 88, 88), 0, dtype=torch.uint8)], 1)
    with torch.no_grad():
        a, la = m(x)
        b, lb = m(padded, torch.tensor([19]))
    assert la.tolist() == lb.tolist()
    assert torch.allclose(a, b[:, : a.shape[1]], atol=1e-4)
