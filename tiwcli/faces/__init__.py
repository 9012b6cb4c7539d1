"""Faces in photos and videos, before and after the model sees them.

backends.py   face analyzers (dlib, fan, auto): detection, 68 landmarks, identity embeddings
crop.py       the square head crop: where to cut, cutting, pasting the result back
track.py      a face through a whole video: detector on every frame, smoothed crop boxes, jitter
follow.py     the fast tracker: detector every k frames, landmarks followed in between,
              and `TrackInProgress`, a track computed ahead of the animation in a thread
face_region.py where a followed face is: its landmarks' square, the detector's box, its pixels
"""

from tiwcli.faces.backends import Face, FaceAnalyzer, load_face_analyzer, main_face_or_error
from tiwcli.faces.crop import CropBox, crop_box_from_landmarks, crop_face, paste_back
from tiwcli.faces.track import FaceTrack, track_faces

__all__ = [
    "CropBox",
    "Face",
    "FaceAnalyzer",
    "FaceTrack",
    "crop_box_from_landmarks",
    "crop_face",
    "load_face_analyzer",
    "main_face_or_error",
    "paste_back",
    "track_faces",
]
