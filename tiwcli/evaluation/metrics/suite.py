"""Score generated frames against references with any subset of the paper's metrics.

Evaluation compares several methods (ours with 1, 2, 3 sources, baselines) on the
SAME driving frames, so the reference side (real frames, their landmarks, identity
embeddings and Inception features) is analysed once per clip (`Scorer.reference`)
and shared by every method row; each row keeps a `RowAccumulator` that only sees
the generated side. Per-frame metrics are averaged over the frames where they are
defined; FID/KID use the Inception features of the frames chosen by `fid_mask`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tiwcli.errors import InputError, MissingWeightsError
from tiwcli.evaluation.metrics import fid as fid_module
from tiwcli.evaluation.metrics.identity import aed_per_frame
from tiwcli.evaluation.metrics.landmarks import FaceObservations, akd_per_frame, mkr_per_frame, observe_faces
from tiwcli.evaluation.metrics.pixels import l1_per_frame, psnr_per_frame, ssim_per_frame


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str  # column title
    higher_is_better: bool
    kind: str  # "pixel" (needs ground truth), "perceptual", "distribution", "face"


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("l1", "L1", False, "pixel"),
        MetricSpec("psnr", "PSNR", True, "pixel"),
        MetricSpec("ssim", "SSIM", True, "pixel"),
        MetricSpec("lpips", "LPIPS", False, "pixel"),
        MetricSpec("fid", "FID", False, "distribution"),
        MetricSpec("kid", "KID", False, "distribution"),
        MetricSpec("akd", "AKD", False, "face"),
        MetricSpec("mkr", "MKR", False, "face"),
        MetricSpec("aed", "AED", False, "face"),
    )
}
ALL_METRICS: tuple[str, ...] = tuple(METRICS)
_PER_FRAME = ("l1", "psnr", "ssim", "lpips", "akd", "mkr", "aed")


def parse_metric_names(text: str) -> tuple[str, ...]:
    """'l1, psnr,fid' -> ('l1', 'psnr', 'fid') in the canonical order; 'all' is every metric."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return ALL_METRICS
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise InputError(
            f"unknown metric(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(ALL_METRICS)}"
        )
    return tuple(name for name in ALL_METRICS if name in names)


@dataclass(frozen=True)
class MetricValue:
    """One cell of the table: a mean over `frames` frames, or None with the reason in `note`."""

    value: float | None
    frames: int
    note: str = ""
    std: float | None = None  # KID: spread over subsets


@dataclass
class Reference:
    """The reference side of b frame pairs, analysed once and shared by every method row."""

    frames: np.ndarray | None  # (b, h, w, 3) uint8 ground truth; None in cross-identity mode
    faces: FaceObservations | None  # landmarks for AKD/MKR, embeddings for AED (per frame)
    fid_mask: np.ndarray  # (b,) bool: frames that enter FID/KID
    inception: np.ndarray | None  # (fid_mask.sum(), 2048)


@dataclass
class RowAccumulator:
    """Running sums of one method row."""

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    pred_features: list[np.ndarray] = field(default_factory=list)
    real_features: list[np.ndarray] = field(default_factory=list)
    frames: int = 0

    def add(self, name: str, per_frame: np.ndarray) -> None:
        defined = per_frame[~np.isnan(per_frame)]
        self.sums[name] = self.sums.get(name, 0.0) + float(defined.sum())
        self.counts[name] = self.counts.get(name, 0) + len(defined)


class Scorer:
    """Holds the metric networks; reasons for metrics that cannot run are in `unavailable`."""

    def __init__(
        self,
        metrics: Sequence[str],
        face_backend: str = "auto",
        ground_truth: bool = True,
        seed: int = 0,
    ) -> None:
        self.metrics = tuple(metrics)
        self.ground_truth = ground_truth
        self.seed = seed
        self.face_backend = face_backend
        self.unavailable: dict[str, str] = {}
        self.face_analyzer = None
        self.lpips = None
        self.inception = None
        if not ground_truth:
            for name in self.metrics:
                if METRICS[name].kind == "pixel":
                    self.unavailable[name] = "needs ground truth (not defined in cross-identity mode)"
        if "lpips" in self.active:
            from tiwcli.evaluation.metrics.lpips import LPIPS

            try:
                self.lpips = LPIPS.load()
            except MissingWeightsError as error:
                self.unavailable["lpips"] = str(error)
        if {"fid", "kid"} & set(self.active):
            try:
                self.inception = fid_module.InceptionFeatures.load()
            except MissingWeightsError as error:
                self.unavailable.update({name: str(error) for name in ("fid", "kid") if name in self.metrics})
        if {"akd", "mkr", "aed"} & set(self.active):
            try:
                self.analyzer()
            except MissingWeightsError as error:
                self.unavailable.update(
                    {name: str(error) for name in ("akd", "mkr", "aed") if name in self.metrics}
                )

    def analyzer(self):
        """The face analyzer (loaded on first use; the landmark-warp baseline shares it)."""
        if self.face_analyzer is None:
            from tiwcli.faces.backends import load_face_analyzer

            self.face_analyzer = load_face_analyzer(self.face_backend)
        return self.face_analyzer

    @property
    def active(self) -> tuple[str, ...]:
        """The requested metrics that can run."""
        return tuple(name for name in self.metrics if name not in self.unavailable)

    @property
    def face_backend_name(self) -> str | None:
        return None if self.face_analyzer is None else self.face_analyzer.name

    def _needs_faces(self) -> bool:
        return bool({"akd", "mkr", "aed"} & set(self.active))

    def observe(self, frames: np.ndarray) -> FaceObservations | None:
        if not self._needs_faces():
            return None
        return observe_faces(self.face_analyzer, frames, embeddings="aed" in self.active)

    def reference(
        self,
        frames: np.ndarray,
        fid_mask: np.ndarray | None = None,
        identity_embedding: np.ndarray | str | None = "per-frame",
    ) -> Reference:
        """Analyse b reference frames (b, h, w, 3) uint8.

        `identity_embedding`: "per-frame" compares each generated frame with its real frame
        (reconstruction); an array (or None when the source has no face) compares every
        generated frame with that one identity (cross-identity).
        """
        fid_mask = np.ones(len(frames), bool) if fid_mask is None else np.asarray(fid_mask, bool)
        faces = self.observe(frames)
        if faces is not None and not isinstance(identity_embedding, str):
            faces = FaceObservations(faces.landmarks, [identity_embedding] * len(frames))
        inception = None
        if self.inception is not None and fid_mask.any():
            inception = self.inception(frames[fid_mask])
        return Reference(
            frames=frames if self.ground_truth else None, faces=faces, fid_mask=fid_mask, inception=inception
        )

    def update(self, row: RowAccumulator, pred: np.ndarray, reference: Reference) -> None:
        """Add b generated frames (b, h, w, 3) uint8, paired with `reference`, to a row."""
        if reference.frames is not None and pred.shape != reference.frames.shape:
            raise InputError(f"generated frames {pred.shape} and real frames {reference.frames.shape} differ")
        active = self.active
        row.frames += len(pred)
        if reference.frames is not None:
            real = reference.frames
            for name, function in (("l1", l1_per_frame), ("psnr", psnr_per_frame), ("ssim", ssim_per_frame)):
                if name in active:
                    row.add(name, function(pred, real))
            if "lpips" in active:
                row.add("lpips", self.lpips.per_frame(pred, real))
        if reference.faces is not None:
            observed = self.observe(pred)
            if "akd" in active:
                row.add("akd", akd_per_frame(observed.landmarks, reference.faces.landmarks))
            if "mkr" in active:
                row.add("mkr", mkr_per_frame(observed.landmarks, reference.faces.landmarks))
            if "aed" in active:
                row.add("aed", aed_per_frame(observed.embeddings, reference.faces.embeddings))
        if reference.inception is not None:
            row.pred_features.append(self.inception(pred[reference.fid_mask]))
            row.real_features.append(reference.inception)

    def result(self, row: RowAccumulator) -> dict[str, MetricValue]:
        values: dict[str, MetricValue] = {}
        for name in self.metrics:
            if name in self.unavailable:
                values[name] = MetricValue(None, 0, f"unavailable: {self.unavailable[name]}")
            elif name in _PER_FRAME:
                count = row.counts.get(name, 0)
                if count == 0:
                    reason = (
                        "no frame where a face is found in both"
                        if name in ("akd", "aed")
                        else ("no real frame with a face" if name == "mkr" else "no frames")
                    )
                    values[name] = MetricValue(None, 0, reason)
                else:
                    values[name] = MetricValue(row.sums[name] / count, count)
            else:
                values[name] = self._distribution(name, row)
        return values

    def _distribution(self, name: str, row: RowAccumulator) -> MetricValue:
        pred = np.concatenate(row.pred_features) if row.pred_features else np.zeros((0, 1))
        real = np.concatenate(row.real_features) if row.real_features else np.zeros((0, 1))
        if min(len(pred), len(real)) < 2:
            return MetricValue(None, len(pred), "needs at least 2 frames")
        try:
            if name == "fid":
                return MetricValue(fid_module.fid_from_features(pred, real), len(pred))
            mean, std = fid_module.kid_from_features(pred, real, seed=self.seed)
            return MetricValue(mean, len(pred), std=std)
        except InputError as error:
            return MetricValue(None, len(pred), str(error))
