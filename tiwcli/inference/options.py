"""What `Animator` takes (`AnimateOptions`) and what it hands back: sources ready for the model,
animated batches, a summary; plus the stage names its progress callback reports.

Shape letters: b batch (driving frames), n sources, k keypoints, S model size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tiwcli.choices import (
    MAX_BATCH_SIZE,
    MAX_MOUTH_SCALE,
    MAX_SOURCES_FROM_VIDEO,
    MOUTH_SCALE,
    Engine,
    FaceBackend,
    MotionMode,
    MouthInterior,
    MouthReference,
    Precision,
    SourceMouth,
    check_choice,
    check_device,
    parse_faces,
)
from tiwcli.errors import InputError
from tiwcli.inference.motion import KeypointArrays
from tiwcli.inference.motion_controls import MotionControls

if TYPE_CHECKING:
    from tiwcli.faces.crop import CropBox

FrameSource = Callable[[], Iterable[np.ndarray]]  # each call: a new pass of (H, W, 3) uint8 RGB frames
ProgressCallback = Callable[[str, int], None]  # (stage, frames just done in that stage)

STAGE_TRACKING = "tracking faces"
STAGE_TRACKING_SOURCE = "tracking source faces"
STAGE_REFERENCE = "finding best frame"
STAGE_SOURCES = "choosing source frames"
STAGE_ANIMATING = "animating"


GPU_BATCH_SIZE = 8  # a GPU fills its cores with more frames per call
CPU_BATCH_SIZE = 2  # a CPU runs small batches faster: the activations stay in its caches


def default_batch_size(device_type: str) -> int:
    """`tiw animate`'s frames per model call on this kind of device ("cuda" or "cpu"). On the 2-core
    CPU machine the demo runs at about 20 frames/s with 2 against 17 with 8 (benchmarks/end-to-end)."""
    return GPU_BATCH_SIZE if device_type == "cuda" else CPU_BATCH_SIZE


@dataclass(frozen=True)
class AnimateOptions:
    mode: MotionMode = "relative"  # relative: copy motion onto the source's keypoints; absolute: as is
    find_best_frame: bool = False  # relative mode: reference = driving frame most like the source
    # relative mode, landmark prior: closed = the reference's mouth closed to the driver's least
    # opening (inference.motion.closed_mouth_references); frame = the reference frame's mouth as is (FOMM)
    mouth_reference: MouthReference = "closed"
    # relative mode, landmark prior: closed = the first source's mouth closed before the driver's
    # opening is added, so the output opens as far as the driver's and closes when it does (as
    # LivePortrait's normalize_lip); as-is = the source's own opening plus the driver's (FOMM)
    source_mouth: SourceMouth = "as-is"
    # relative mode, landmark prior: the driver's mouth opening taken this many times
    # (inference.motion.scaled_mouth_opening); 1 = as far as the driver's landmarks open it
    mouth_scale: float = MOUTH_SCALE
    # landmark prior: where the mouth opens past the source's, paint the driver's mouth interior in
    # (driver) or leave the warp's stretched lips (warp) (inference.mouth_interior)
    mouth_interior: MouthInterior = "driver"
    batch_size: int = 8  # driving frames per model call; bounds memory (tiw animate: default_batch_size)
    device: str = "auto"  # auto, cpu, cuda or cuda:N (tiwcli.runtime.resolve_device)
    precision: Precision = "auto"  # autocast dtype (tiwcli.runtime.autocast): auto = bf16 on CUDA, else fp32
    engine: Engine = "torch"  # what runs the model: torch, or onnx (ONNX Runtime; inference.engines)
    crop: bool = True  # cut faces out of sources and driving frames (else: resize inputs as they are)
    paste_back: bool | None = None  # None: on for a single source photo larger than the crop
    face_backend: FaceBackend = "auto"  # face analyzer backend: auto | fan | dlib
    num_sources: int = 3  # frames taken from a source video (`--sources-from-video`)
    detect_every: int = 8  # face detector every k driving frames, landmark tracking between (1: all)
    # what of the driver's motion reaches the source (motion_controls.py); the default passes it all
    controls: MotionControls = field(default_factory=MotionControls)
    # which faces of a photo: largest (one, the default), all, or face numbers from the left "1,3"
    faces: str = "largest"

    def __post_init__(self) -> None:
        check_choice(self.mode, MotionMode, "mode")
        check_choice(self.mouth_reference, MouthReference, "mouth reference")
        check_choice(self.source_mouth, SourceMouth, "source mouth")
        check_choice(self.mouth_interior, MouthInterior, "mouth interior")
        if not 0 <= self.mouth_scale <= MAX_MOUTH_SCALE:
            raise InputError(f"mouth scale must be from 0 to {MAX_MOUTH_SCALE:g}, not {self.mouth_scale:g}")
        check_choice(self.precision, Precision, "precision")
        check_choice(self.engine, Engine, "engine")
        check_choice(self.face_backend, FaceBackend, "face backend")
        check_device(self.device)
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise InputError(f"batch size must be from 1 to {MAX_BATCH_SIZE}, not {self.batch_size}")
        if not 1 <= self.num_sources <= MAX_SOURCES_FROM_VIDEO:
            raise InputError(
                f"number of sources must be from 1 to {MAX_SOURCES_FROM_VIDEO}, not {self.num_sources}"
            )
        if self.detect_every < 1:
            raise InputError("detect-every must be at least 1")
        parse_faces(self.faces)  # a one-line error for a bad selection, before any work
        if not self.controls.is_default and self.mode != "relative":
            raise InputError(
                "motion controls need --mode relative (they split the driver's motion from a reference)"
            )
        if self.paste_back and not self.crop:
            raise InputError("paste-back needs face cropping (drop --no-crop or pass --no-paste-back)")

    @property
    def opening_scale(self) -> float:
        """How many times the driver's mouth opening is taken once the controls have weighted the
        mouth (`inference.motion.scaled_mouth_opening`): `mouth_scale` by default, 1 (nothing added)
        with `--no-mouth` or `--motion pose`, scaled along with `--expression-scale`."""
        return 1 + (self.mouth_scale - 1) * self.controls.mouth_weight


@dataclass(frozen=True)
class Sources:
    """Source images ready for the model, and where to paste the result back."""

    crops: np.ndarray  # (n, S, S, 3) uint8: what the model sees
    frame_indices: tuple[int, ...]  # which input image or video frame each crop came from
    frame: np.ndarray | None = None  # (H, W, 3) uint8: the full first source, the paste-back target
    box: CropBox | None = None  # where crops[0] was cut from `frame`
    landmarks: np.ndarray | None = None  # (n, 68, 2) in each crop's [-1, 1], NaN = no face (landmark prior)

    @property
    def count(self) -> int:
        return len(self.crops)


@dataclass(frozen=True)
class AnimatedBatch:
    frames: np.ndarray  # (b, H, W, 3) uint8: the output frames (crop, or source with the face pasted back)
    results: np.ndarray  # (b, S, S, 3) uint8: the model's output crops
    driving: np.ndarray  # (b, S, S, 3) uint8: the driving crops
    driving_keypoints: KeypointArrays  # (b, k, 2), (b, k): detected on the driving crops
    motion_keypoints: KeypointArrays  # (b, k, 2), (b, k): what the model was driven with


@dataclass(frozen=True)
class AnimationSummary:
    frames: int  # output frames
    seconds: float  # wall time of the whole animation, tracking passes included
    frames_per_second: float
    frames_without_face: int  # driving frames that reused the last good crop box
    sources_used: tuple[int, ...]  # indices of the source images or source video frames
    reference_frame: int | None  # driving frame that relative motion is measured from
    output_size: tuple[int, int]  # (width, height) of the output frames
    # seconds per stage (tiwcli.timing.STAGES) of this animation; stages on other threads overlap
    stage_seconds: dict[str, float] = field(default_factory=dict)
    video_seconds: float | None = None  # the output video's length (None: frames / fps)
    faces: int = 1  # faces animated in the photo


@dataclass(frozen=True)
class CropBatch:
    crops: np.ndarray  # (b, S, S, 3) uint8
    landmarks: np.ndarray | None  # (b, 68, 2) in the crops' [-1, 1], NaN = no face; None: not wanted
    # (b,) the least mouth opening of each frame's next MOUTH_LOOKAHEAD frames (NaN: no face
    # there); None: not known (no tracking pass to look ahead in)
    mouth_ahead: np.ndarray | None = None
