import numpy as np
import pytest

from avsr.core.jsonl import write_jsonl
from avsr.data.crops import (
    AugmentConfig,
    CropDataset,
    FrameBudgetSampler,
    augment_clip,
    check_ctc_feasible,
    collate,
    ctc_min_frames,
)


def test_frame_budget_batches():
    lengths = [10, 50, 20, 80, 30, 200, 60]
    s = FrameBudgetSampler(lengths, max_frames=100, shuffle=True, seed=1, rank=0, world=1)
    batches = list(s)
    assert sorted(i for b in batches for i in b) == list(range(7))
    for b in batches:
        assert len(b) == 1 or sum(lengths[i] for i in b) <= 100


def test_sharding_gives_equal_counts_and_covers_everything():
    lengths = list(range(5, 100, 7))
    shards = [list(FrameBudgetSampler(lengths, 60, shuffle=True, seed=3, rank=r, world=3)) for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    assert set(i for s in shards for b in s for i in b) == set(range(len(lengths)))


def test_ctc_feasibility():
    assert ctc_min_frames([1, 2, 2, 3]) == 5
    check_ctc_feasible("ok", 10, [1, 2, 2, 3], 2)
    with pytest.raises(ValueError, match="fewer than the 5 its 4-phoneme target needs"):
        check_ctc_feasible("short", 8, [1, 2, 2, 3], 2)


def test_augment_train_and_eval():
    v = np.random.default_rng(0).integers(0, 255, (50, 96, 96), dtype=np.uint8)
    ev = augment_clip(v, AugmentConfig(), None)
    assert ev.shape == (50, 88, 88) and np.array_equal(ev, v[:, 4:92, 4:92])
    tr = augment_clip(v, AugmentConfig(time_masks_per_second=5, max_mask_frames=5), np.random.default_rng(1))
    assert tr.shape == (50, 88, 88)


def test_dataset_drops_clips_too_short_for_their_target(roi_like, caplog):
    ds = CropDataset(roi_like, time_stride=4)
    assert [it[0] for it in ds.items] == ["long"]
    assert "too short" in caplog.text
    batch = collate([ds[0]])
    assert batch["video"].shape[1:] == (30, 88, 88) and batch["target_lengths"].tolist() == [4]  # G OW | F


@pytest.fixture()
def roi_like(tmp_path):
    from avsr.core.video import CropWriter

    for cid, n in (("long", 30), ("short", 6)):
        with CropWriter(tmp_path / f"{cid}.roi.mkv", 96, False) as w:
            for _ in range(n):
                w.write(np.zeros((96, 96), np.uint8))
    write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"id": "long", "roi": "long.roi.mkv", "frames": 30, "phonemes": "G OW | F"},
            {"id": "short", "roi": "short.roi.mkv", "frames": 6, "text": "go forward ten meters"},
        ],
    )
    return tmp_path / "m.jsonl"
