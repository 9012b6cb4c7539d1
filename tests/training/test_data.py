"""Training data: clip lists, the in-memory clip store, per-step batches, augmentation."""

from __future__ import annotations

import pytest
import torch

from tiwcli.dataset.layout import list_clips
from tiwcli.errors import InputError
from tiwcli.training.augment import augment_sample, augment_with_landmarks, still_motion
from tiwcli.training.data import (
    GUIDED_LANDMARKS,
    GUIDED_MIRROR,
    LANDMARK_MIRROR,
    MOUTH_GAP,
    MOUTH_OPEN,
    NUM_LANDMARKS,
    ClipStore,
    TrainBatches,
    fixed_batch,
    step_seed,
)


@pytest.fixture(scope="module")
def store(sample_dataset) -> ClipStore:
    return ClipStore(list_clips(sample_dataset, "train"), image_size=64, min_frames=4)


def test_list_clips_finds_each_split(sample_dataset):
    assert len(list_clips(sample_dataset, "train")) >= 2
    assert [p.name.split("_")[0] for p in list_clips(sample_dataset, "test")] == ["carphone"]


def test_list_clips_errors(tmp_path):
    with pytest.raises(InputError, match="no such dataset folder"):
        list_clips(tmp_path / "missing", "train")
    with pytest.raises(InputError, match="no train clips"):
        list_clips(tmp_path, "train")


def test_store_resizes_clips_to_the_model_size(sample_dataset):
    store = ClipStore(list_clips(sample_dataset, "test"), image_size=32, min_frames=4)
    frames = store.frames(0, torch.tensor([0, 3]))
    assert frames.shape == (2, 3, 32, 32)
    assert 0 <= frames.min() and frames.max() <= 1


def test_lazy_store_matches_cached_store(sample_dataset):
    paths = list_clips(sample_dataset, "test")
    cached = ClipStore(paths, 64, min_frames=4)
    lazy = ClipStore(paths, 64, min_frames=4, cache=False)
    indices = torch.tensor([5, 1])
    assert torch.equal(cached.frames(0, indices), lazy.frames(0, indices))


def test_short_clips_are_refused(sample_dataset):
    with pytest.raises(InputError, match="fewer than the 1000 needed"), pytest.warns(UserWarning):
        ClipStore(list_clips(sample_dataset, "train"), 64, min_frames=1000)


def test_batches_are_a_function_of_step_and_rank(store):
    batches = TrainBatches(store, batch_size=3, max_sources=3, seed=7)
    first = batches[5]
    assert first.sources.ndim == 5 and first.sources.shape[0] == 3 and first.sources.shape[2:] == (3, 64, 64)
    assert first.driving.shape == (3, 3, 64, 64)
    assert first.sources.dtype == torch.float32 and 0 <= first.sources.min() and first.sources.max() <= 1
    again = batches[5]
    assert torch.equal(first.sources, again.sources) and torch.equal(first.driving, again.driving)
    other_rank = TrainBatches(store, batch_size=3, max_sources=3, seed=7, rank=1)[5]
    assert not torch.equal(first.driving, other_rank.driving)


def test_number_of_sources_varies_per_batch(store):
    batches = TrainBatches(store, batch_size=2, max_sources=3)
    counts = {batches[step].sources.shape[1] for step in range(30)}
    assert counts == {1, 2, 3}


def test_driving_frame_differs_from_sources(store):
    batch = TrainBatches(store, batch_size=4, max_sources=2, flip_probability=0, jitter=0)[0]
    for sample in range(4):
        for source in batch.sources[sample]:
            assert not torch.equal(source, batch.driving[sample])


def test_augmentation_is_the_same_for_every_frame_of_a_sample():
    frame = torch.rand(1, 3, 16, 16)
    frames = frame.expand(4, -1, -1, -1)
    for seed in range(10):
        augmented = augment_sample(frames, 0.5, 0.2, torch.Generator().manual_seed(seed))
        assert all(torch.equal(augmented[0], other) for other in augmented[1:])
        assert 0 <= augmented.min() and augmented.max() <= 1


def test_flip_mirrors_the_image():
    frames = torch.rand(2, 3, 8, 8)
    flipped = augment_sample(frames, flip_probability=1.0, jitter=0.0, generator=torch.Generator())
    assert torch.equal(flipped, frames.flip(-1))


def test_still_motion_moves_a_still_frame():
    frame = torch.rand(3, 32, 32)
    moved = still_motion(frame, 3, torch.Generator().manual_seed(0))
    assert moved.shape == (3, 3, 32, 32)
    assert not torch.allclose(moved[0], moved[1])


def test_still_probability_one_makes_warped_samples(store):
    batch = TrainBatches(store, batch_size=2, max_sources=2, still_probability=1.0)[3]
    assert batch.sources.shape[0] == 2 and torch.isfinite(batch.sources).all()


def test_fixed_batch_is_reproducible(store):
    a, b = fixed_batch(store, 4, 2), fixed_batch(store, 4, 2)
    assert a.sources.shape == (4, 2, 3, 64, 64)
    assert torch.equal(a.sources, b.sources)


def test_step_seeds_differ():
    assert len({step_seed(0, step, rank) for step in range(100) for rank in range(4)}) == 400


def test_batches_carry_the_landmarks_of_their_frames(store, sample_dataset):
    """The sample dataset is made by `tiw preprocess`, so its clips have landmarks (all 68)."""
    assert store.has_landmarks
    batch = TrainBatches(store, 3, 2, seed=0, flip_probability=0.0, jitter=0.0)[5]
    assert batch.source_landmarks is not None and batch.driving_landmarks is not None
    assert batch.source_landmarks.shape == (3, batch.sources.shape[1], NUM_LANDMARKS, 2)
    assert batch.driving_landmarks.shape == (3, NUM_LANDMARKS, 2)
    known = batch.driving_landmarks[~torch.isnan(batch.driving_landmarks)]
    assert known.numel() and known.abs().max() < 1.2  # crop coordinates


def test_a_flip_mirrors_the_landmarks_with_the_image():
    frames = torch.rand(2, 3, 8, 8)
    landmarks = torch.rand(2, len(GUIDED_LANDMARKS), 2) * 2 - 1
    flipped, moved = augment_with_landmarks(frames, landmarks, 1.0, 0.0, torch.Generator(), GUIDED_MIRROR)
    assert torch.equal(flipped, frames.flip(-1))
    assert torch.allclose(moved[:, 0], landmarks[:, 3] * torch.tensor([-1.0, 1.0]))  # eye corners swap
    assert torch.allclose(moved[:, 4], landmarks[:, 4] * torch.tensor([-1.0, 1.0]))  # the nose stays


def test_the_68_point_mirror_agrees_with_the_guided_mirror():
    assert sorted(LANDMARK_MIRROR) == list(range(NUM_LANDMARKS))
    assert all(LANDMARK_MIRROR[LANDMARK_MIRROR[i]] == i for i in range(NUM_LANDMARKS))  # an involution
    assert LANDMARK_MIRROR[36] == 45 and LANDMARK_MIRROR[48] == 54 and LANDMARK_MIRROR[0] == 16
    assert [GUIDED_LANDMARKS.index(LANDMARK_MIRROR[g]) for g in GUIDED_LANDMARKS] == list(GUIDED_MIRROR)


def test_a_flipped_batch_keeps_each_landmark_on_its_named_point(store):
    """After a flip, landmark 36 (the subject's right eye's outer corner) is the point the flipped
    image shows there, i.e. the old 45 mirrored."""
    plain = TrainBatches(store, 2, 1, seed=3, flip_probability=0.0, jitter=0.0)[0]
    flipped = TrainBatches(store, 2, 1, seed=3, flip_probability=1.0, jitter=0.0)[0]
    assert torch.equal(flipped.driving, plain.driving.flip(-1))
    expected = plain.driving_landmarks[:, list(LANDMARK_MIRROR)] * torch.tensor([-1.0, 1.0])
    assert torch.allclose(flipped.driving_landmarks, expected, equal_nan=True)


def test_clips_without_landmarks_give_batches_without_them(sample_dataset, tmp_path):
    import shutil

    clip = list_clips(sample_dataset, "train")[0]
    (tmp_path / "train").mkdir()
    shutil.copyfile(clip, tmp_path / "train" / clip.name)
    store = ClipStore(list_clips(tmp_path, "train"), image_size=64, min_frames=4)
    assert not store.has_landmarks
    assert TrainBatches(store, 2, 2)[0].source_landmarks is None


def _clip_with_mouth_openings(sample_dataset, folder, openings: list[float]):
    """A copy of a real sample clip whose landmarks open the mouth by `openings` (frame by frame;
    NaN: no face), as a ClipStore."""
    import shutil

    import numpy as np

    from tiwcli.dataset.layout import landmarks_path

    clip = list_clips(sample_dataset, "train")[0]
    (folder / "train").mkdir()
    copy = folder / "train" / clip.name
    shutil.copyfile(clip, copy)
    base = np.load(landmarks_path(clip))[0].astype(np.float32)  # (68, 2) a real face
    base[[65, 66, 67]] = base[[63, 62, 61]]  # the inner lips closed
    eyes = np.linalg.norm(base[36] - base[45])
    landmarks = np.repeat(base[None], len(openings), axis=0)
    for index, opening in enumerate(openings):
        landmarks[index, [65, 66, 67], 1] += opening * eyes  # the lower inner lip down
    landmarks[np.isnan(openings)] = np.nan
    np.save(landmarks_path(copy), landmarks)
    return ClipStore(list_clips(folder, "train"), image_size=64, min_frames=4)


def test_mouth_openings_are_read_from_the_landmarks(sample_dataset, tmp_path):
    openings = [0.0, 0.05, float("nan"), 0.2] + [0.0] * 20
    store = _clip_with_mouth_openings(sample_dataset, tmp_path, openings)
    assert torch.allclose(store.mouth_openings(0), torch.tensor(openings), atol=1e-5, equal_nan=True)


def test_mouth_pairs_open_the_driving_mouth_wider_than_every_source(sample_dataset, tmp_path):
    openings = [0.01 * index for index in range(24)]  # 0 .. 0.23
    openings[5] = float("nan")
    store = _clip_with_mouth_openings(sample_dataset, tmp_path, openings)
    batches = TrainBatches(store, 4, 3, seed=1, flip_probability=0.0, jitter=0.0, mouth_pair_probability=1.0)
    assert batches.mouth_clips == [0]
    for step in range(5):
        batch = batches[step]
        driving = _opening(batch.driving_landmarks)  # (b,)
        sources = _opening(batch.source_landmarks)  # (b, n)
        assert (driving >= MOUTH_OPEN - 1e-5).all()
        assert (sources <= driving[:, None] - MOUTH_GAP + 1e-5).all()


def _opening(landmarks: torch.Tensor) -> torch.Tensor:
    gap = (landmarks[..., [61, 62, 63], :] - landmarks[..., [67, 66, 65], :]).norm(dim=-1).mean(-1)
    return gap / (landmarks[..., 36, :] - landmarks[..., 45, :]).norm(dim=-1)


def test_a_clip_that_never_opens_its_mouth_gives_no_mouth_pairs(sample_dataset, tmp_path):
    store = _clip_with_mouth_openings(sample_dataset, tmp_path, [0.05] * 24)
    assert store.mouth_pairs(0, 1, torch.Generator()) is None
    with pytest.warns(UserWarning, match="mouth pairs are off"):
        batches = TrainBatches(store, 2, 2, mouth_pair_probability=1.0)
    assert batches[0].sources.shape[0] == 2  # plain samples instead


def test_mouth_pairs_need_enough_closed_frames_for_every_source(sample_dataset, tmp_path):
    openings = [0.0, 0.0, 0.2] + [0.15] * 21  # 0.2 has two frames 0.06 less open; 0.15 has two too
    store = _clip_with_mouth_openings(sample_dataset, tmp_path, openings)
    assert store.mouth_pairs(0, 3, torch.Generator()) is None
    pair = store.mouth_pairs(0, 2, torch.Generator().manual_seed(0))
    assert pair is not None and sorted(pair[1:].tolist()) == [0, 1]
