"""Faces in whole photos and videos: detection, 68 landmarks, square crops, paste-back, tracking.

Implicit Warping (like FOMM and face-vid2vid) is trained on VoxCeleb-style square head crops,
so every real photo or phone video goes through this module before the model sees it:
`detect` finds faces, `crop_box_from_landmarks` turns a face into a square head crop,
`crop_face` cuts it out and `paste_back` blends the generated crop back into the frame.
`track_faces` runs the detector over a whole video and smooths the crop boxes over time.

Backends (`load_face_analyzer`): "dlib" (HOG detector, 68-point shape predictor, ResNet
identity embedding; weights from `face-recognition-models`), "fan" (face-alignment's 2DFAN4
with the S3FD detector, optional extra `tiw[fan]`) and "auto" (fan when installed with its
weights, else dlib). Every backend returns the same `Face`; the identity embedding is
always dlib's ResNet so that identity metrics do not depend on the landmark backend.

Shape letters: t frames, H W frame height and width, s crop side.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter1d, median_filter

from tiwcli.errors import InputError, MissingWeightsError
from tiwcli.samples import package_folder

# iBUG 68-point layout
JAW = slice(0, 17)
LEFT_EYE = slice(36, 42)  # the subject's right eye: on the left of the image
RIGHT_EYE = slice(42, 48)
MOUTH = slice(48, 68)

DLIB_MODEL_FILES = {
    "landmarks": "shape_predictor_68_face_landmarks.dat",
    "embedding": "dlib_face_recognition_resnet_model_v1.dat",
}
FAN_WEIGHT_FILES = {
    "landmarks": "2DFAN4-cd938726ad.zip",  # face-alignment's 2D FAN-4 (TorchScript)
    "detector": "s3fd-619a316812.pth",  # face-alignment's S3FD face detector
}

FAN_WEIGHTS_URL = "https://www.adrianbulat.com/downloads/python-fan/"

# Crop convention (see crop_box_from_landmarks)
CROP_SCALE = 1.8  # side of the square / largest extent of the 68 landmarks
CROP_SHIFT_UP = 0.1  # centre moved up by this fraction of the extent: toward the forehead


@dataclass(frozen=True)
class Face:
    """One detected face, in pixels of the image it was found in."""

    box: np.ndarray  # (4,) float32 x0, y0, x1, y1 of the detector box
    score: float  # detector confidence (backend-specific scale; higher is surer)
    landmarks: np.ndarray  # (68, 2) float32 x, y in the iBUG 68-point layout

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


@dataclass(frozen=True)
class CropBox:
    """A square in frame pixels (may reach outside the frame); `size` is the side."""

    center_x: float
    center_y: float
    size: float

    @property
    def x0(self) -> float:
        return self.center_x - self.size / 2

    @property
    def y0(self) -> float:
        return self.center_y - self.size / 2

    @property
    def x1(self) -> float:
        return self.center_x + self.size / 2

    @property
    def y1(self) -> float:
        return self.center_y + self.size / 2

    def as_array(self) -> np.ndarray:
        return np.array([self.center_x, self.center_y, self.size], dtype=np.float64)

    @classmethod
    def from_array(cls, values: Sequence[float]) -> CropBox:
        return cls(float(values[0]), float(values[1]), float(values[2]))


# ---------------------------------------------------------------------------------------------
# Analyzers


class FaceAnalyzer:
    """Detects faces with landmarks; computes dlib's 128-d identity embedding for any backend."""

    name: str = "base"
    note: str = ""  # one line a command may print once, e.g. which backend `auto` chose

    def __init__(self, embedding_model_path: Path) -> None:
        self._embedding_model_path = embedding_model_path

    def detect(self, image: np.ndarray, *, thorough: bool = False) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB image, the main one (largest, then most central) first.

        `thorough` trades speed for small faces (for single photos, not every video frame).
        """
        raise NotImplementedError

    def landmarks_in_box(self, image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """(68, 2) float32 landmarks of the face in detector box (4,) x0, y0, x1, y1, without
        detecting: for tracking (see tiwcli.face_tracking). None: this backend cannot."""
        return None

    def embedding(self, image: np.ndarray, face: Face) -> np.ndarray:
        """(128,) float32 identity embedding (dlib ResNet; same person: distance < ~0.6)."""
        import dlib

        rect = dlib.rectangle(*np.rint(face.box).astype(int).tolist())
        parts = [dlib.point(x, y) for x, y in np.rint(face.landmarks).astype(int).tolist()]
        shape = dlib.full_object_detection(rect, parts)
        descriptor = _embedding_net(str(self._embedding_model_path)).compute_face_descriptor(
            _rgb_contiguous(image), shape
        )
        return np.asarray(descriptor, dtype=np.float32)


@functools.cache
def _embedding_net(path: str):
    import dlib

    return dlib.face_recognition_model_v1(path)


class DlibFaceAnalyzer(FaceAnalyzer):
    """HOG frontal detector (on a frame scaled to ~`detect_side` px) + 68-point shape predictor.

    HOG finds near-frontal faces of >= ~80 px at 15 ms for 640x360; it misses profiles.
    """

    name = "dlib"

    def __init__(self, model_folder: Path, detect_side: int = 640) -> None:
        import dlib

        super().__init__(model_folder / DLIB_MODEL_FILES["embedding"])
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(model_folder / DLIB_MODEL_FILES["landmarks"]))
        self.detect_side = detect_side

    def detect(self, image: np.ndarray, *, thorough: bool = False) -> list[Face]:
        import dlib

        image = _rgb_contiguous(image)
        height, width = image.shape[:2]
        # HOG finds faces of >= ~80 px: shrink big frames for speed, double small ones.
        detect_side = self.detect_side * (2.5 if thorough else 1)
        scale = min(1.0, detect_side / max(height, width))
        small = image if scale == 1.0 else _resize(image, round(width * scale), round(height * scale))
        upsample = 1 if max(small.shape[:2]) < 400 else 0
        rects, scores, _ = self._detector.run(small, upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            corners = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()]) / scale
            full_rect = dlib.rectangle(*np.rint(corners).astype(int).tolist())
            shape = self._predictor(image, full_rect)
            landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)  # (68, 2)
            box = corners.astype(np.float32)
            faces.append(Face(box=box, score=float(score), landmarks=landmarks))
        return sort_faces(faces, width, height)

    def landmarks_in_box(self, image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        import dlib

        rect = dlib.rectangle(*np.rint(box).astype(int).tolist())
        shape = self._predictor(_rgb_contiguous(image), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)  # (68, 2)


class FanFaceAnalyzer(FaceAnalyzer):
    """face-alignment's S3FD detector + 2DFAN4 landmarks (the FOMM-lineage preprocessing)."""

    name = "fan"

    def __init__(self, embedding_model_path: Path, device: str = "cpu") -> None:
        import face_alignment

        super().__init__(embedding_model_path)
        landmarks_type = getattr(face_alignment.LandmarksType, "TWO_D", None)
        if landmarks_type is None:  # face-alignment < 1.4 spelled it _2D
            landmarks_type = face_alignment.LandmarksType._2D
        self._network = face_alignment.FaceAlignment(
            landmarks_type, device=device, face_detector="sfd", flip_input=False
        )

    def detect(self, image: np.ndarray, *, thorough: bool = False) -> list[Face]:
        image = _rgb_contiguous(image)
        height, width = image.shape[:2]
        result = self._network.get_landmarks_from_image(image, return_bboxes=True)
        landmarks_list, _, boxes = result if isinstance(result, tuple) else (result, None, None)
        if not landmarks_list:
            return []
        faces = []
        for index, landmarks in enumerate(landmarks_list):
            points = np.asarray(landmarks, dtype=np.float32)[:, :2]  # (68, 2)
            if boxes is not None and len(boxes) > index:
                box = np.asarray(boxes[index][:4], dtype=np.float32)
                score = float(boxes[index][4]) if len(boxes[index]) > 4 else 1.0
            else:
                box = np.concatenate([points.min(0), points.max(0)]).astype(np.float32)
                score = 1.0
            faces.append(Face(box=box, score=score, landmarks=points))
        return sort_faces(faces, width, height)


def sort_faces(faces: list[Face], width: int, height: int) -> list[Face]:
    """Largest first; equal areas go to the face nearest the image centre."""

    def key(face: Face) -> tuple[float, float]:
        center_x = (face.box[0] + face.box[2]) / 2
        center_y = (face.box[1] + face.box[3]) / 2
        return (-face.area, math.hypot(center_x - width / 2, center_y - height / 2))

    return sorted(faces, key=key)


def dlib_model_folder() -> Path:
    """The folder of face-recognition-models' weights, checked file by file."""
    root = package_folder("face_recognition_models")
    folder = root / "models" if root is not None else None
    for file_name in DLIB_MODEL_FILES.values():
        if folder is None or not (folder / file_name).is_file():
            raise MissingWeightsError(
                f"dlib face model {file_name} not found: `pip install face-recognition-models`"
            )
    return folder


def torch_hub_checkpoint_folder() -> Path:
    """Where torch.hub (and so face-alignment) caches weights, found without importing torch."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    torch_home = os.getenv("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def fan_unavailable_reason() -> str | None:
    """Why the fan backend cannot run here (one line), or None when it can. Touches no network."""
    if package_folder("face_alignment") is None:
        return 'face-alignment is not installed: `pip install "tiw[fan]"`'
    folder = torch_hub_checkpoint_folder()
    missing = [name for name in FAN_WEIGHT_FILES.values() if not (folder / name).is_file()]
    if missing:
        return (
            f"face-alignment weights {' and '.join(missing)} not found: put them in {folder}/ "
            f"(from {FAN_WEIGHTS_URL}<file name>)"
        )
    return None


@functools.cache
def load_face_analyzer(backend: str = "auto") -> FaceAnalyzer:
    """A face analyzer ("auto", "fan" or "dlib"), loaded once per process.

    "auto" picks fan when face-alignment and its weights are on disk, otherwise dlib; the
    choice and its reason are in `analyzer.note` (one line, for the command to print once).
    """
    if backend not in ("auto", "fan", "dlib"):
        raise InputError(f"unknown face backend {backend!r}: use auto, fan or dlib")
    fan_problem = fan_unavailable_reason() if backend in ("auto", "fan") else None
    if backend == "fan" and fan_problem is not None:
        raise MissingWeightsError(f"face backend fan: {fan_problem}")
    if backend == "dlib" or fan_problem is not None:
        analyzer: FaceAnalyzer = DlibFaceAnalyzer(dlib_model_folder())
        if backend == "auto":
            analyzer.note = f"faces: using dlib ({fan_problem})"
        return analyzer
    analyzer = FanFaceAnalyzer(dlib_model_folder() / DLIB_MODEL_FILES["embedding"])
    analyzer.note = "faces: using face-alignment (fan)" if backend == "auto" else ""
    return analyzer


def main_face_or_error(image: np.ndarray, analyzer: FaceAnalyzer, path: Path | str) -> Face:
    """The main face of a photo (searched thoroughly), or InputError naming the file when none."""
    faces = analyzer.detect(image, thorough=True)
    if not faces:
        raise InputError(f"{path}: no face found")
    return faces[0]


# ---------------------------------------------------------------------------------------------
# Crops


def crop_box_from_landmarks(
    landmarks: np.ndarray, scale: float = CROP_SCALE, shift_up: float = CROP_SHIFT_UP
) -> CropBox:
    """The VoxCeleb/FOMM-style square head crop around 68 landmarks (x, y pixels).

    Convention: let the landmarks' bounding box have centre (cx, cy) and extent
    e = max(width, height) (eyebrows to chin, jaw to jaw). The crop is the square of side
    `scale * e` (1.8 by default) centred at (cx, cy - shift_up * e): the landmarks stop at the
    eyebrows, so the centre moves up toward the forehead. The crop then holds the whole head
    (top of the forehead and hair ~0.5e above the brows) and the chin with some neck below.
    """
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)  # (2,)
    extent = float(max(high - low))
    center = (low + high) / 2
    return CropBox(float(center[0]), float(center[1] - shift_up * extent), scale * extent)


def crop_face(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the square `box` of an (H, W, 3) image, edges replicated outside it.

    Sub-pixel boxes are honoured (smoothed tracks do not snap to the pixel grid); the resize is
    PIL's Lanczos on only the needed region, so a 640x360 frame to 256 takes a few ms.
    """
    height, width = image.shape[:2]
    # integer region covering the box plus a margin for the filter, possibly outside the frame
    x0, y0 = math.floor(box.x0) - 2, math.floor(box.y0) - 2
    x1, y1 = math.ceil(box.x1) + 2, math.ceil(box.y1) + 2
    (region_y0, region_y1), pad_y = _clip_span(y0, y1, height)
    (region_x0, region_x1), pad_x = _clip_span(x0, x1, width)
    region = image[region_y0:region_y1, region_x0:region_x1]
    pad = (pad_y, pad_x, (0, 0))
    if any(before or after for before, after in pad):
        region = np.pad(region, pad, mode="edge")
    crop_box = (box.x0 - x0, box.y0 - y0, box.x1 - x0, box.y1 - y0)
    resized = Image.fromarray(np.ascontiguousarray(region)).resize((size, size), Image.LANCZOS, box=crop_box)
    return np.asarray(resized)


def _clip_span(low: int, high: int, length: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The in-frame part [start, stop) of the span [low, high) (at least one pixel, the nearest)
    and the (before, after) edge padding that brings it back to high - low pixels."""
    start = min(max(low, 0), length - 1)
    stop = max(min(high, length), start + 1)
    missing = high - low - (stop - start)
    before = min(max(start - low, 0), missing)
    return (start, stop), (before, missing - before)


def feather_mask(u: np.ndarray, v: np.ndarray, feather: float, power: float = 4.0) -> np.ndarray:
    """(len(v), len(u)) float32 blend weights at box coordinates u (columns), v (rows) in [-1, 1].

    A rounded square (superellipse |u|^p + |v|^p = 1, inscribed in the box) with a smoothstep
    edge: 1 where the radius is <= 1 - feather, exactly 0 where it is >= 1.
    """
    radius = (np.abs(u)[None, :] ** power + np.abs(v)[:, None] ** power) ** (1 / power)  # (h, w)
    t = np.clip((1 - radius) / max(feather, 1e-6), 0, 1)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def paste_back(frame: np.ndarray, face_crop: np.ndarray, box: CropBox, feather: float = 0.15) -> np.ndarray:
    """A new frame: `face_crop` (s, s, 3) resized onto the square `box` of `frame` (H, W, 3).

    Blended with `feather_mask` (a rounded square whose edge fades over `feather` of the half
    side); frame pixels outside the mask, and so outside the box, are exactly untouched.
    """
    height, width = frame.shape[:2]
    result = frame.copy()
    x0, y0 = max(math.floor(box.x0), 0), max(math.floor(box.y0), 0)
    x1, y1 = min(math.ceil(box.x1), width), min(math.ceil(box.y1), height)
    if x1 <= x0 or y1 <= y0:
        return result
    # mask at frame pixel centres, in the box's [-1, 1] coordinates
    u = (np.arange(x0, x1, dtype=np.float32) + 0.5 - box.center_x) / (box.size / 2)
    v = (np.arange(y0, y1, dtype=np.float32) + 0.5 - box.center_y) / (box.size / 2)
    mask = feather_mask(u, v, feather)[..., None]  # (h, w, 1)
    # the crop resampled at the same frame pixels: crop pixel = (frame pixel - box.x0) * s / size
    side = face_crop.shape[0]
    step = side / box.size
    margin = math.ceil(step) + 2  # the frame pixels may start up to one pixel before the box
    padded = np.pad(face_crop, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
    source_box = (
        (x0 - box.x0) * step + margin,
        (y0 - box.y0) * step + margin,
        (x1 - box.x0) * step + margin,
        (y1 - box.y0) * step + margin,
    )
    warped = Image.fromarray(padded).resize((x1 - x0, y1 - y0), Image.LANCZOS, box=source_box)
    original = frame[y0:y1, x0:x1].astype(np.float32)
    blended = original + mask * (np.asarray(warped, dtype=np.float32) - original)
    inside = mask[..., 0] > 0
    result[y0:y1, x0:x1][inside] = np.clip(np.rint(blended[inside]), 0, 255).astype(frame.dtype)
    return result


# ---------------------------------------------------------------------------------------------
# Tracking


@dataclass(frozen=True)
class FaceTrack:
    """Per-frame crop boxes of one face through a video: O(t) small arrays, never frames."""

    boxes: list[CropBox]  # t smoothed crop boxes: crop with these
    raw_boxes: np.ndarray  # (t, 3) cx, cy, size per frame before smoothing (gaps filled)
    face_boxes: np.ndarray  # (t, 4) detector boxes x0, y0, x1, y1; NaN where no face was found
    found: np.ndarray  # (t,) bool: a face was detected in this frame
    frame_width: int
    frame_height: int
    landmarks: np.ndarray | None = None  # (t, 68, 2) frame pixels, NaN where no face was found

    @property
    def num_frames(self) -> int:
        return len(self.boxes)

    @property
    def num_missing(self) -> int:
        return int((~self.found).sum())

    def smoothed_array(self) -> np.ndarray:
        return np.stack([box.as_array() for box in self.boxes])  # (t, 3)


def _pick_face(faces: list[Face], previous: CropBox | None) -> Face:
    """The face nearest the one followed so far (if within half a crop), else the main face."""
    if previous is None or len(faces) == 1:
        return faces[0]
    centers = [crop_box_from_landmarks(face.landmarks) for face in faces]
    distances = [math.hypot(c.center_x - previous.center_x, c.center_y - previous.center_y) for c in centers]
    nearest = int(np.argmin(distances))
    return faces[nearest] if distances[nearest] < previous.size / 2 else faces[0]


def smooth_crop_boxes(raw: np.ndarray, center_sigma: float = 2.0, size_sigma: float = 8.0) -> np.ndarray:
    """(t, 3) cx, cy, size -> smoothed (t, 3), zero-phase (the whole track is known).

    A 5-frame median drops single-frame detector outliers, then a Gaussian low-pass
    (sigma in frames) removes jitter; the size gets a wider median and a much wider
    Gaussian, so the crop scale barely breathes while the head moves.
    """
    if len(raw) < 3:
        return raw.copy()
    centers = median_filter(raw[:, :2], size=(5, 1), mode="nearest")
    centers = gaussian_filter1d(centers, center_sigma, axis=0, mode="nearest")
    sizes = median_filter(raw[:, 2], size=15, mode="nearest")
    sizes = gaussian_filter1d(sizes, size_sigma, mode="nearest")
    return np.concatenate([centers, sizes[:, None]], axis=1)


def track_faces(
    frames: Iterable[np.ndarray],
    analyzer: FaceAnalyzer,
    *,
    center_sigma: float = 2.0,
    size_sigma: float = 8.0,
    name: str = "video",
) -> FaceTrack:
    """Detect the face in every frame and return smoothed square crop boxes for the whole video.

    Frames are consumed one at a time and dropped. Frames without a face reuse the last good
    crop box (before the first face: the first good one). Raises InputError when no frame has
    a face. `name` (the file) goes into that message.
    """
    raw: list[np.ndarray] = []  # (3,) per frame, NaN when missing
    face_boxes: list[np.ndarray] = []
    landmarks: list[np.ndarray] = []
    previous: CropBox | None = None
    width = height = 0
    for frame in frames:
        height, width = frame.shape[:2]
        faces = analyzer.detect(frame)
        if faces:
            face = _pick_face(faces, previous)
            previous = crop_box_from_landmarks(face.landmarks)
            raw.append(previous.as_array())
            face_boxes.append(face.box.astype(np.float32))
            landmarks.append(face.landmarks.astype(np.float32))
        else:
            raw.append(np.full(3, np.nan))
            face_boxes.append(np.full(4, np.nan, dtype=np.float32))
            landmarks.append(np.full((68, 2), np.nan, dtype=np.float32))
    if not raw:
        raise InputError(f"{name}: video has no frames")
    raw_array = np.stack(raw)  # (t, 3)
    found = ~np.isnan(raw_array[:, 0])
    if not found.any():
        raise InputError(f"{name}: no face found in any frame")
    filled = _fill_missing(raw_array, found)
    smoothed = smooth_crop_boxes(filled, center_sigma, size_sigma)
    return FaceTrack(
        boxes=[CropBox.from_array(row) for row in smoothed],
        raw_boxes=filled,
        face_boxes=np.stack(face_boxes),
        found=found,
        frame_width=width,
        frame_height=height,
        landmarks=np.stack(landmarks),
    )


def _fill_missing(raw: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Rows where `found` is False take the last good row (the first good one before any)."""
    indices = np.where(found, np.arange(len(found)), -1)
    last_good = np.maximum.accumulate(indices)  # (t,)
    last_good[last_good < 0] = int(np.argmax(found))
    return raw[last_good]


def crop_jitter(boxes: FaceTrack | np.ndarray | Sequence[CropBox]) -> float:
    """Mean frame-to-frame move of the crop centre, as a fraction of the crop size.

    Accepts a FaceTrack (its smoothed boxes), a (t, 3) cx, cy, size array (e.g. `raw_boxes`)
    or a list of CropBox. 0.01 means the crop moves 1% of its side per frame on average.
    """
    values = _box_array(boxes)
    if len(values) < 2:
        return 0.0
    moves = np.hypot(*np.diff(values[:, :2], axis=0).T)  # (t-1,)
    return float(np.mean(moves / values[1:, 2]))


def crop_size_jitter(boxes: FaceTrack | np.ndarray | Sequence[CropBox]) -> float:
    """Mean frame-to-frame relative change of the crop size."""
    values = _box_array(boxes)
    if len(values) < 2:
        return 0.0
    return float(np.mean(np.abs(np.diff(values[:, 2])) / values[1:, 2]))


def crop_roughness(boxes: FaceTrack | np.ndarray | Sequence[CropBox]) -> float:
    """Mean |second difference| of the crop centre / crop size: jitter without the real motion.

    `crop_jitter` also counts the head's genuine, smooth motion; this one is ~0 for a crop
    moving at constant speed and large for a crop shaking from frame to frame.
    """
    values = _box_array(boxes)
    if len(values) < 3:
        return 0.0
    accelerations = np.hypot(*np.diff(values[:, :2], n=2, axis=0).T)  # (t-2,)
    return float(np.mean(accelerations / values[2:, 2]))


def _box_array(boxes: FaceTrack | np.ndarray | Sequence[CropBox]) -> np.ndarray:
    if isinstance(boxes, FaceTrack):
        return boxes.smoothed_array()
    if isinstance(boxes, np.ndarray):
        return boxes
    return np.stack([box.as_array() for box in boxes])


# ---------------------------------------------------------------------------------------------
# Helpers


def _rgb_contiguous(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR, reducing_gap=2.0))
