"""Training data: clips of a `tiw preprocess` dataset -> batches of (sources, driving).

A sample is 1..N source frames and one driving frame of the same clip (the model
must rebuild the driving frame). N is drawn once per BATCH, so the model learns
image sets of every size. Batch `i` is a pure function of (seed, i, rank): the
sampler "position" is the step number, so resuming is exact and every process of
a distributed run draws its own samples (this replaces a DistributedSampler, which
with a handful of identities would give each process only some of them).

Clips are decoded once and held in memory as uint8 (a 256 px clip of 120 frames is
24 MB); with `cache=False` each sample decodes its clip again (for datasets larger
than memory; slower, use --num-workers).

Shapes: b batch, n sources, t frames of a clip, H W image size.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from tiwcli.dataset.layout import landmarks_path
from tiwcli.errors import InputError
from tiwcli.io.frames import resize_frames
from tiwcli.io.video import VideoReader, read_all_frames
from tiwcli.models.mouth_prior import mouth_openings
from tiwcli.training.augment import augment_with_landmarks, still_motion

# The 68-point landmarks that guide keypoints 0..9 (LivePortrait-style guidance): eye corners,
# nose tip, mouth corners, upper and lower lip, chin. GUIDED_MIRROR: their order after a flip.
GUIDED_LANDMARKS = (36, 39, 42, 45, 30, 48, 54, 51, 57, 8)
GUIDED_MIRROR = (3, 2, 1, 0, 4, 6, 5, 7, 8, 9)
NUM_LANDMARKS = 68  # the iBUG layout of dlib and FAN
# mouth pairs (TrainConfig.mouth_pair_probability): the driving frame's mouth opening (inner-lip gap
# over the outer eye-corner distance, as evaluation.metrics.landmarks.mouth_opening) is at least
# MOUTH_OPEN, and every source's is at least MOUTH_GAP smaller
MOUTH_OPEN = 0.1
MOUTH_GAP = 0.06
# LANDMARK_MIRROR[i]: which of the 68 landmarks is landmark i after a horizontal flip (left and right
# swap names: jaw, brows, nostrils, eyes, mouth); nose bridge and mouth midline stay.
LANDMARK_MIRROR = (
    *range(16, -1, -1),  # jaw 0..16
    *range(26, 21, -1),  # brows 17..21 <-> 26..22
    *range(21, 16, -1),
    27, 28, 29, 30,  # nose bridge
    35, 34, 33, 32, 31,  # nostrils
    45, 44, 43, 42, 47, 46,  # right eye 36..41 <-> left eye 45..42, 47, 46
    39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48,  # outer lips 48..54
    59, 58, 57, 56, 55,  # outer lips 55..59
    64, 63, 62, 61, 60,  # inner lips 60..64
    67, 66, 65,  # inner lips 65..67
)  # fmt: skip


@dataclass(frozen=True)
class Batch:
    sources: Tensor  # (b, n, 3, H, W) float in [0, 1]
    driving: Tensor  # (b, 3, H, W) float in [0, 1]
    # the 68 face landmarks, x, y in [-1, 1], NaN where unknown; None: the dataset has none.
    # GUIDED_LANDMARKS of them guide keypoints; all of them feed the model's landmark prior.
    source_landmarks: Tensor | None = None  # (b, n, 68, 2)
    driving_landmarks: Tensor | None = None  # (b, 68, 2)

    def _map(self, function) -> Batch:
        optional = (self.source_landmarks, self.driving_landmarks)
        return Batch(
            function(self.sources),
            function(self.driving),
            *(None if tensor is None else function(tensor) for tensor in optional),
        )

    def to(self, device: torch.device | str) -> Batch:
        return self._map(lambda tensor: tensor.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:  # DataLoader(pin_memory=True) calls this
        return self._map(lambda tensor: tensor.pin_memory())


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """A well-mixed 63-bit seed for one (seed, step, rank)."""
    digest = hashlib.sha256(f"{seed}/{step}/{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _to_chw(frames: np.ndarray, image_size: int) -> Tensor:
    """(t, h, w, 3) uint8 -> (t, 3, S, S) uint8, resized with antialiasing when needed."""
    resized = resize_frames(frames, image_size, image_size)  # (t, S, S, 3)
    return torch.from_numpy(resized).permute(0, 3, 1, 2).contiguous()


class ClipStore:
    """The usable clips of one split: decoded in memory, or decoded again on each access."""

    def __init__(self, paths: list[Path], image_size: int, min_frames: int, cache: bool = True) -> None:
        self.image_size = image_size
        self.cache = cache
        self.paths: list[Path] = []
        self.lengths: list[int] = []
        self._clips: list[Tensor] = []
        self._landmarks: list[Tensor | None] = []  # per clip (t, 68, 2) landmarks
        problems: list[str] = []
        for path in paths:
            try:
                length, clip = self._open(path)
            except InputError as error:
                problems.append(f"skipping unreadable clip {error}")
                continue
            if length < min_frames:
                problems.append(f"skipping {path.name}: {length} frames, fewer than the {min_frames} needed")
                continue
            self.paths.append(path)
            self.lengths.append(length)
            self._landmarks.append(_read_landmarks(path, length))
            if clip is not None:
                self._clips.append(clip)
        for problem in problems:
            warnings.warn(problem, stacklevel=2)
        if not self.paths:
            reason = problems[0] if problems else "no clips"
            raise InputError(f"no usable clips among {len(paths)} ({reason})")

    def _open(self, path: Path) -> tuple[int, Tensor | None]:
        if self.cache:
            clip = _to_chw(read_all_frames(path), self.image_size)
            return clip.shape[0], clip
        with VideoReader(path) as reader:
            return reader.info.num_frames, None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def has_landmarks(self) -> bool:
        return any(landmarks is not None for landmarks in self._landmarks)

    def landmarks(self, clip_index: int, frame_indices: Tensor) -> Tensor:
        """(f,) frame indices -> (f, 68, 2) landmarks in [-1, 1], NaN where unknown."""
        landmarks = self._landmarks[clip_index]
        if landmarks is None:
            return torch.full((len(frame_indices), NUM_LANDMARKS, 2), float("nan"))
        return landmarks[frame_indices.clamp(max=landmarks.shape[0] - 1)]

    def mouth_openings(self, clip_index: int) -> Tensor:
        """(t,) how open the mouth is in each frame of one clip (inner-lip gap over the outer
        eye-corner distance), NaN where the landmarks are unknown."""
        landmarks = self._landmarks[clip_index]
        if landmarks is None:
            return torch.full((self.lengths[clip_index],), float("nan"))
        return mouth_openings(landmarks)  # (t,)

    def mouth_pairs(self, clip_index: int, num_sources: int, generator: torch.Generator) -> Tensor | None:
        """(num_sources + 1,) frame indices, the driving frame first, whose mouth is open by at least
        MOUTH_OPEN while every source's is at least MOUTH_GAP less open; None when the clip has none."""
        openings = self.mouth_openings(clip_index)
        known = openings[torch.isfinite(openings)].sort().values
        closed_counts = torch.searchsorted(known, openings.nan_to_num(-1.0) - MOUTH_GAP, right=True)  # (t,)
        wide = torch.nonzero((openings >= MOUTH_OPEN) & (closed_counts >= num_sources)).flatten()
        if len(wide) == 0:  # NaN compares False: unknown frames are never drawn
            return None
        driving = wide[torch.randint(len(wide), (1,), generator=generator)]
        closed = torch.nonzero(openings <= openings[driving] - MOUTH_GAP).flatten()
        return torch.cat([driving, closed[torch.randperm(len(closed), generator=generator)[:num_sources]]])

    def frames(self, clip_index: int, frame_indices: Tensor) -> Tensor:
        """(f,) frame indices of one clip -> (f, 3, H, W) float in [0, 1]."""
        if self.cache:
            clip = self._clips[clip_index]
        else:
            needed = int(frame_indices.max()) + 1
            clip = _to_chw(read_all_frames(self.paths[clip_index], max_frames=needed), self.image_size)
            frame_indices = frame_indices.clamp(max=clip.shape[0] - 1)
        return clip[frame_indices].float() / 255


def _read_landmarks(clip: Path, length: int) -> Tensor | None:
    """CLIP.landmarks.npy (written by `tiw preprocess`) as (t, 68, 2) float32, or None."""
    path = landmarks_path(clip)
    if not path.exists():
        return None
    try:
        landmarks = np.load(path)
    except (OSError, ValueError, EOFError):  # EOFError: an empty file
        warnings.warn(f"ignoring unreadable landmarks {path.name}", stacklevel=3)
        return None
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2) or landmarks.shape[0] < length:
        warnings.warn(f"ignoring landmarks {path.name}: shape {landmarks.shape}", stacklevel=3)
        return None
    return torch.from_numpy(landmarks[:length].astype(np.float32))


class TrainBatches(torch.utils.data.Dataset):
    """Item `step` is the whole batch of that step (use with `DataLoader(batch_size=None)`)."""

    def __init__(
        self,
        store: ClipStore,
        batch_size: int,
        max_sources: int,
        seed: int = 0,
        rank: int = 0,
        flip_probability: float = 0.5,
        jitter: float = 0.1,
        still_probability: float = 0.0,
        mouth_pair_probability: float = 0.0,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.max_sources = max_sources
        self.seed = seed
        self.rank = rank
        self.flip_probability = flip_probability
        self.jitter = jitter
        self.still_probability = still_probability
        self.mouth_pair_probability = mouth_pair_probability
        # the clips that hold a mouth pair for max_sources (so for any number of) sources
        self.mouth_clips = (
            [
                index
                for index in range(len(store))
                if store.mouth_pairs(index, max_sources, torch.Generator().manual_seed(0)) is not None
            ]
            if mouth_pair_probability > 0
            else []
        )
        if mouth_pair_probability > 0 and not self.mouth_clips:
            warnings.warn(
                "no clip has a frame with the mouth open and frames with it closed (by the stored "
                "landmarks): mouth pairs are off",
                stacklevel=2,
            )

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> Batch:
        generator = torch.Generator().manual_seed(step_seed(self.seed, step, self.rank))
        num_sources = int(torch.randint(1, self.max_sources + 1, (1,), generator=generator))
        samples = [self._sample(num_sources, generator) for _ in range(self.batch_size)]
        frames = torch.stack([frames for frames, _ in samples])  # (b, n + 1, 3, H, W)
        batch = Batch(sources=frames[:, 1:].contiguous(), driving=frames[:, 0].contiguous())
        if not self.store.has_landmarks:
            return batch
        landmarks = torch.stack([landmarks for _, landmarks in samples])  # (b, n + 1, L, 2)
        return Batch(
            batch.sources, batch.driving, landmarks[:, 1:].contiguous(), landmarks[:, 0].contiguous()
        )

    def _sample(self, num_sources: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One sample: frames (n + 1, 3, H, W) and landmarks (n + 1, 68, 2), the driving frame first."""
        if self.mouth_clips and torch.rand(1, generator=generator).item() < self.mouth_pair_probability:
            clip_index = self.mouth_clips[
                int(torch.randint(len(self.mouth_clips), (1,), generator=generator))
            ]
            indices = self.store.mouth_pairs(clip_index, num_sources, generator)
            assert indices is not None  # a mouth clip holds pairs for up to max_sources sources
            frames, landmarks = (
                self.store.frames(clip_index, indices),
                self.store.landmarks(clip_index, indices),
            )
            return self._augment(frames, landmarks, generator)
        clip_index = int(torch.randint(len(self.store), (1,), generator=generator))
        length = self.store.lengths[clip_index]
        if torch.rand(1, generator=generator).item() < self.still_probability:
            still = self.store.frames(clip_index, torch.randint(length, (1,), generator=generator))[0]
            frames = still_motion(still, num_sources + 1, generator)
            landmarks = torch.full((num_sources + 1, NUM_LANDMARKS, 2), float("nan"))  # moved
        else:
            indices = torch.randperm(length, generator=generator)[: num_sources + 1]
            frames = self.store.frames(clip_index, indices)
            landmarks = self.store.landmarks(clip_index, indices)
        return self._augment(frames, landmarks, generator)

    def _augment(
        self, frames: Tensor, landmarks: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        frames, moved = augment_with_landmarks(
            frames, landmarks, self.flip_probability, self.jitter, generator, LANDMARK_MIRROR
        )
        assert moved is not None
        return frames, moved


def fixed_batch(store: ClipStore, batch_size: int, num_sources: int, seed: int = 0) -> Batch:
    """A reproducible, unaugmented batch (for sample grids) from clips spread over the sorted list."""
    generator = torch.Generator().manual_seed(step_seed(seed, -1))
    samples = []
    for index in range(batch_size):
        clip_index = int((index + 0.5) * len(store) / batch_size) % len(store)
        indices = torch.randperm(store.lengths[clip_index], generator=generator)[: num_sources + 1]
        samples.append(store.frames(clip_index, indices))
    frames = torch.stack(samples)  # (b, n + 1, 3, H, W)
    return Batch(sources=frames[:, 1:].contiguous(), driving=frames[:, 0].contiguous())
