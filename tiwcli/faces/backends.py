"""Face analyzers: detection, 68 landmarks and identity embeddings in photos and video frames.

Backends (`load_face_analyzer`): "dlib" (HOG detector, 68-point shape predictor, ResNet
identity embedding; weights from `face-recognition-models`), "fan" (face-alignment's 2DFAN4
with the S3FD detector, optional extra `tiw[fan]`) and "auto" (fan when installed with its
weights, else dlib). Every backend returns the same `Face`; the identity embedding is
always dlib's ResNet so that identity metrics do not depend on the landmark backend.

Shape letters: H W frame height and width.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tiwcli.choices import FaceBackend, check_choice
from tiwcli.errors import InputError, MissingWeightsError
from tiwcli.paths import package_folder, torch_hub_checkpoints

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

# dlib identity embeddings: one person's faces are usually closer than this (its documentation: 0.6)
SAME_PERSON_DISTANCE = 0.6

FAN_WEIGHTS_URL = "https://www.adrianbulat.com/downloads/python-fan/"


@dataclass(frozen=True)
class Face:
    """One detected face, in pixels of the image it was found in."""

    box: np.ndarray  # (4,) float32 x0, y0, x1, y1 of the detector box
    score: float  # detector confidence (backend-specific scale; higher is surer)
    landmarks: np.ndarray  # (68, 2) float32 x, y in the iBUG 68-point layout

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


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
        detecting: for tracking (see tiwcli.faces.follow). None: this backend cannot."""
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


def fan_unavailable_reason() -> str | None:
    """Why the fan backend cannot run here (one line), or None when it can. Touches no network."""
    if package_folder("face_alignment") is None:
        return 'face-alignment is not installed: `pip install "tiw[fan]"`'
    folder = torch_hub_checkpoints()
    missing = [name for name in FAN_WEIGHT_FILES.values() if not (folder / name).is_file()]
    if missing:
        return (
            f"face-alignment weights {' and '.join(missing)} not found: put them in {folder}/ "
            f"(from {FAN_WEIGHTS_URL}<file name>)"
        )
    return None


@functools.cache
def load_face_analyzer(backend: FaceBackend = "auto") -> FaceAnalyzer:
    """A face analyzer ("auto", "fan" or "dlib"), loaded once per process.

    "auto" picks fan when face-alignment and its weights are on disk, otherwise dlib; the
    choice and its reason are in `analyzer.note` (one line, for the command to print once).
    """
    check_choice(backend, FaceBackend, "face backend")
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
# Helpers


def _rgb_contiguous(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR, reducing_gap=2.0))
