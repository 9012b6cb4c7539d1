"""Still images in and out: any common format, normalised to RGB uint8.

Grayscale, palette, RGBA (composited over white) and 16-bit images are converted,
EXIF orientation is applied, and images too large to be sensible are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tiwcli.errors import InputError
from tiwcli.io.files import missing_reason

MAX_PIXELS = 50_000_000  # 50 megapixels: larger is almost surely a mistake (or a bomb)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}

Image.MAX_IMAGE_PIXELS = None  # our own limit below gives the clearer message

# the first bytes of still-image formats, and of video containers (so neither is taken by suffix)
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_VIDEO_MAGIC = (b"\x1aE\xdf\xa3", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"FLV")


def is_image_path(path: Path) -> bool:
    """Whether `path` is a still image, chosen by its content where the file can be read (a JPEG
    without a suffix, or named .jfif, is an image; an MP4 named .jpg is not), else by its suffix."""
    kind = sniff_kind(path)
    return kind == "image" if kind is not None else path.suffix.lower() in IMAGE_SUFFIXES


def sniff_kind(path: Path) -> str | None:
    """'image' or 'video' from a file's first bytes; None when unreadable or not recognised."""
    try:
        with path.open("rb") as file:
            head = file.read(16)
    except OSError:
        return None
    riff = head[8:12] if head[:4] == b"RIFF" else b""
    if head.startswith(_IMAGE_MAGIC) or riff == b"WEBP":
        return "image"
    if head[4:8] == b"ftyp" or head.startswith(_VIDEO_MAGIC) or riff == b"AVI ":
        return "video"
    return None


def animated_frames(path: Path) -> int:
    """How many frames an image file holds (an animated GIF or WebP: more than 1); 1 if unreadable."""
    try:
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1) or 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return 1


def load_image(path: Path | str) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {missing_reason(path)}")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InputError(
                    f"{path}: image is {image.width}x{image.height}, over the "
                    f"{MAX_PIXELS // 1_000_000} megapixel limit; downscale it first"
                )
            image = ImageOps.exif_transpose(image)
            return _to_rgb8(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{path}: not a readable image ({error.__class__.__name__})") from None


def _to_rgb8(image: Image.Image) -> np.ndarray:
    if image.mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        # 16-bit or float grayscale: stretch its own range to 8 bits.
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        gray = np.round(scaled).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    array = np.asarray(image.convert("RGB"))
    if array.dtype != np.uint8:
        array = (array / np.iinfo(array.dtype).max * 255).round().astype(np.uint8)
    return array


def save_image(path: Path | str, image: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB to any format PIL knows from the suffix."""
    Image.fromarray(image).save(path)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, 3) uint8 to (height, width) with a good filter for both directions."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
