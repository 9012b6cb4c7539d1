"""Motion controls: what of the driver's motion reaches the source (`--motion`, `--expression-scale`,
`--eyes/--no-eyes`, `--mouth/--no-mouth`), and the expression transfer of video editing.

The driver's 68 landmarks are split, frame by frame, into a rigid head pose and an expression:
- pose: a weak-perspective camera (scale, 3D rotation, shift) that shows the reference face, lifted
  to 3D with a mean face depth per point (`DEPTH`, `Face3D`), as the driving frame. It is fitted by
  least squares on points that an expression barely moves (`POSE_POINTS`: nose, inner and outer eye
  corners, the jaw's two ends by the ears) and made the nearest scaled rotation (SVD). A 2D
  similarity (Procrustes) fit would read a head turning left as the face narrowing, an expression;
  the 3D fit tells yaw and pitch from it.
- expression: what is left, measured back in the reference face's own 3D frame:
  pose^-1(driving) - reference.

Controlled landmarks then rebuild the source's: its own landmarks (the anchor) plus the expression
(scaled, with the eyes or the mouth zeroed when asked), moved by the driver's change of pose about
the anchor's own centre. `both` at scale 1 with every region on is, up to the fit, plain relative
motion. The learned keypoints cannot be split this way (they have no names), so with controls they
follow the landmarks: each source keypoint moves as the landmarks around it moved
(`keypoints_following_landmarks`).

Video editing (`edited_landmarks`) keeps each source frame's own pose and swaps its expression,
measured from a neutral frame of the source, for the driver's, measured from a neutral frame of
the driver.

Coordinates are a crop's [-1, 1]. Shape letters: b frames, L = 68 landmarks, k keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tiwcli.choices import MotionControl, check_choice
from tiwcli.errors import InputError
from tiwcli.models import Keypoints

# iBUG 68 points that a smile, a word or a blink barely move: the head's pose is fitted on them
POSE_POINTS = (0, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45)
EYE_POINTS = tuple(range(36, 48))  # both eyes' outlines: lids and corners
BROW_POINTS = tuple(range(17, 27))
# the lips and the jaw line below the ears: the chin drops when the mouth opens
MOUTH_POINTS = (*range(3, 14), *range(48, 68))
MAX_EXPRESSION_SCALE = 3.0  # beyond this the landmarks cross and the spline folds the face


@dataclass(frozen=True)
class MotionControls:
    motion: MotionControl = "both"  # both | expression (no head pose) | pose (no expression)
    expression_scale: float = 1.0  # 0 = the source's own expression, 1 = as driven, > 1 exaggerated
    eyes: bool = True  # False: the source's eyes (lids) stay as they are
    mouth: bool = True  # False: the source's mouth (lips and jaw) stays as it is

    def __post_init__(self) -> None:
        check_choice(self.motion, MotionControl, "motion")
        if not 0 <= self.expression_scale <= MAX_EXPRESSION_SCALE:
            raise InputError(
                f"expression scale must be from 0 to {MAX_EXPRESSION_SCALE:g}, not {self.expression_scale:g}"
            )

    @property
    def is_default(self) -> bool:
        """Whether the driver's motion passes unchanged (the model is then driven as before)."""
        return self == MotionControls()

    @property
    def mouth_weight(self) -> float:
        """How much of the driver's mouth opening reaches the source: 0 with the mouth off or
        `--motion pose`, else the expression scale."""
        return float(self.region_weights()[66])  # the lower inner lip: a mouth point

    def region_weights(self) -> np.ndarray:
        """(68,) how much of the driver's expression each landmark takes."""
        weights = np.full(68, 0.0 if self.motion == "pose" else self.expression_scale, np.float64)
        if not self.eyes:
            weights[list(EYE_POINTS)] = 0.0
        if not self.mouth:
            weights[list(MOUTH_POINTS)] = 0.0
        return weights


# How far each iBUG point stands out of the face's plane (toward the camera), in outer eye-corner
# distances: rough adult anthropometry (the nose tip ~3.5 cm before the eye corners, the jaw's ends
# ~5 cm behind them, the eye corners 9.5 cm apart), symmetric. It only has to turn a 2D face into a
# plausible 3D one, so that a head turning (yaw, pitch) is told from an expression.
DEPTH = np.array([
    -0.55, -0.50, -0.42, -0.32, -0.20, -0.08, 0.03, 0.10, 0.13, 0.10, 0.03, -0.08, -0.20, -0.32,
    -0.42, -0.50, -0.55,  # jaw 0-16
    -0.12, 0.00, 0.06, 0.09, 0.10, 0.10, 0.09, 0.06, 0.00, -0.12,  # brows 17-26
    0.05, 0.15, 0.25, 0.36, 0.15, 0.20, 0.25, 0.20, 0.15,  # nose 27-35
    -0.10, -0.03, -0.02, -0.03, -0.03, -0.05, -0.03, -0.02, -0.03, -0.10, -0.05, -0.03,  # eyes 36-47
    0.05, 0.12, 0.16, 0.18, 0.16, 0.12, 0.05, 0.12, 0.15, 0.16, 0.15, 0.12,  # outer lips 48-59
    0.06, 0.14, 0.14, 0.14, 0.06, 0.13, 0.13, 0.13,  # inner lips 60-67
])  # fmt: skip


@dataclass(frozen=True)
class Face3D:
    """A face's 68 landmarks lifted to 3D about the centre of its `POSE_POINTS`: (x, y) as seen,
    depth from `DEPTH` at the face's size. The reference's own pose is taken as its frame."""

    points: np.ndarray  # (L, 3) centred
    centre: np.ndarray  # (2,) where the centre is in the crop

    @classmethod
    def lift(cls, landmarks: np.ndarray) -> Face3D:
        landmarks = np.asarray(landmarks, np.float64)
        centre = landmarks[list(POSE_POINTS)].mean(axis=0)
        size = _face_size(landmarks)
        return cls(np.concatenate([landmarks - centre, DEPTH[:, None] * size], axis=1), centre)


@dataclass(frozen=True)
class Pose:
    """Weak perspective, per frame: a 3D point p -> scale * (rotation p)[x, y] + shift."""

    scale: np.ndarray  # (b,)
    rotation: np.ndarray  # (b, 3, 3)
    shift: np.ndarray  # (b, 2)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(b, L, 3) or (L, 3) -> (b, L, 2)"""
        turned = np.einsum(
            "bij,blj->bli", self.rotation, np.broadcast_to(points, (len(self.scale), *points.shape[-2:]))
        )
        return self.scale[:, None, None] * turned[..., :2] + self.shift[:, None]

    def unproject(self, landmarks: np.ndarray, face: Face3D) -> np.ndarray:
        """(b, L, 2) seen landmarks -> (b, L, 3) in the face's own frame, their depth the face's."""
        depth = np.einsum("bj,lj->bl", self.rotation[:, 2], face.points)  # (b, L)
        seen = (landmarks - self.shift[:, None]) / self.scale[:, None, None]
        return np.einsum("bji,blj->bli", self.rotation, np.concatenate([seen, depth[..., None]], axis=-1))


def fit_pose(face: Face3D, landmarks: np.ndarray, points: tuple[int, ...] = POSE_POINTS) -> Pose:
    """The weak-perspective pose that shows `face` as `landmarks` (b, L, 2): an affine camera
    fitted by least squares on `points`, then made the nearest scaled rotation (SVD)."""
    model = face.points[list(points)]  # (P, 3)
    design = np.concatenate([model, np.ones((len(points), 1))], axis=1)  # (P, 4)
    solution = np.einsum("ij,bjc->bic", np.linalg.pinv(design), landmarks[:, list(points)])  # (b, 4, 2)
    camera = np.swapaxes(solution[:, :3], 1, 2)  # (b, 2, 3)
    u, singular, vt = np.linalg.svd(camera, full_matrices=False)  # (b, 2, 2), (b, 2), (b, 2, 3)
    rows = u @ vt  # (b, 2, 3) orthonormal rows
    rotation = np.concatenate([rows, np.cross(rows[:, 0], rows[:, 1])[:, None]], axis=1)
    return Pose(scale=singular.mean(axis=1), rotation=rotation, shift=solution[:, 3])


def expression_of(landmarks: np.ndarray, reference: np.ndarray) -> tuple[Pose, np.ndarray]:
    """(pose, expression) of landmarks (b, L, 2) against `reference` (L, 2): the head pose that
    shows the reference's face as each frame, and what it leaves, in that face's frame (b, L, 3)."""
    face = Face3D.lift(reference)
    pose = fit_pose(face, landmarks)
    return pose, pose.unproject(landmarks, face) - face.points


def _per_frame(reference: np.ndarray, driving: np.ndarray) -> list[tuple[np.ndarray, slice]]:
    """(reference, frames) pairs: one reference for all frames, or one per frame."""
    if reference.ndim == 2:
        return [(reference, slice(None))]
    return [(reference[index], slice(index, index + 1)) for index in range(len(driving))]


def controlled_landmarks(
    driving: np.ndarray,  # (b, L, 2)
    reference: np.ndarray,  # (L, 2) or (b, L, 2): what the motion is measured from
    anchor: np.ndarray,  # (L, 2): the source's own landmarks
    controls: MotionControls,
) -> np.ndarray:
    """The landmarks to drive the source with, (b, L, 2): the source's face plus the driver's
    expression as `controls` weight it, turned and moved as the driver's head was unless
    `controls.motion` is expression. NaN where the driving frame has no face."""
    from tiwcli.inference.motion import close_pairs

    source = Face3D.lift(anchor)
    weights = controls.region_weights()[None, :, None]
    result = np.empty(driving.shape, np.float64)
    for measured_from, frames in _per_frame(reference, driving):
        pose, expression = expression_of(driving[frames], measured_from)
        shaped = source.points[None] + weights * expression  # (b, L, 3)
        if controls.motion == "expression":
            result[frames] = shaped[..., :2] + source.centre
            continue
        moved_by = pose.shift - Face3D.lift(measured_from).centre  # (b, 2): the centre's shift
        turned = Pose(pose.scale, pose.rotation, source.centre + moved_by)
        result[frames] = turned.project(shaped)
    return close_pairs(result.astype(np.float32))


def edited_landmarks(
    source: np.ndarray,  # (b, L, 2): the source video's frames
    source_neutral: np.ndarray,  # (L, 2)
    driving: np.ndarray,  # (b, L, 2): the driver's frames
    driving_neutral: np.ndarray,  # (L, 2)
    controls: MotionControls,
) -> np.ndarray:
    """Video editing: each source frame keeps its pose, and its expression (measured from the
    source's neutral frame) becomes the driver's (measured from the driver's), rescaled to the
    source's face size. Regions that `controls` turn off keep the source frame's own expression."""
    from tiwcli.inference.motion import close_pairs

    source_pose, source_expression = expression_of(source, source_neutral)
    _, driving_expression = expression_of(driving, driving_neutral)
    size_ratio = _face_size(source_neutral) / max(_face_size(driving_neutral), 1e-6)
    weights = controls.region_weights()[None, :, None]
    kept = np.where(weights > 0, 0.0, 1.0)  # regions switched off keep the source's own expression
    expression = weights * driving_expression * size_ratio + kept * source_expression
    return close_pairs(
        source_pose.project(Face3D.lift(source_neutral).points + expression).astype(np.float32)
    )


def keypoints_following_landmarks(
    keypoints: np.ndarray,  # (k, 2) or (b, k, 2): the source's keypoints
    landmarks: np.ndarray,  # (L, 2) or (b, L, 2): the source's landmarks
    moved: np.ndarray,  # (b, L, 2): where those landmarks go
    sigma: float = 0.12,
) -> np.ndarray:
    """(b, k, 2): each keypoint moved by the landmarks' displacements around it (a Gaussian-weighted
    mean, the crop's border points pinned in place so a keypoint far from the face stays)."""
    border = np.array([(x, y) for y in (-1, 0, 1) for x in (-1, 0, 1) if (x, y) != (0, 0)], np.float64)
    landmarks = np.broadcast_to(landmarks, moved.shape)
    batch = moved.shape[0]
    points = np.concatenate([landmarks, np.broadcast_to(border, (batch, *border.shape))], axis=1)
    shifts = np.concatenate([moved - landmarks, np.zeros((batch, len(border), 2))], axis=1)  # (b, L+8, 2)
    keypoints = np.broadcast_to(keypoints, (batch, *keypoints.shape[-2:]))
    distance2 = ((keypoints[:, :, None] - points[:, None]) ** 2).sum(-1)  # (b, k, L+8)
    weights = np.exp(-(distance2 - distance2.min(axis=-1, keepdims=True)) / (2 * sigma**2))
    weights /= weights.sum(axis=-1, keepdims=True)
    return (keypoints + np.einsum("bkl,blc->bkc", weights, np.nan_to_num(shifts))).astype(np.float32)


def keypoints_following(source: Keypoints, landmarks: np.ndarray, moved: np.ndarray) -> Keypoints:
    """`keypoints_following_landmarks` for a model's keypoints: the source's (k, 2), (k,), or one
    set per frame (b, k, 2), (b, k) -> (b, k, 2), (b, k) on the same device, strengths kept."""
    positions = keypoints_following_landmarks(source.positions.float().cpu().numpy(), landmarks, moved)
    return Keypoints(
        positions=torch.from_numpy(positions).to(source.positions.device),
        strengths=source.strengths.float().expand(len(moved), -1),
    )


def _face_size(landmarks: np.ndarray) -> float:
    """The outer eye-corner distance: a face's size that expressions barely change."""
    return float(np.linalg.norm(landmarks[45] - landmarks[36]))
