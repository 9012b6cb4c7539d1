import numpy as np
import pytest
from PIL import Image

from tiwcli.errors import InputError
from tiwcli.io.images import load_image
from tiwcli.samples import sample_file


def test_real_photo(face_photo):
    image = load_image(face_photo)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8


def test_grayscale_photo_becomes_rgb():
    image = load_image(sample_file("BWPictureHuman.jpg"))
    assert image.shape[2] == 3
    assert np.array_equal(image[..., 0], image[..., 1])


def test_rgba_is_composited_over_white():
    image = load_image(sample_file("Image_with_alpha.png"))
    assert image.shape[2] == 3


def test_sixteen_bit_is_scaled(tmp_path):
    path = tmp_path / "deep.png"
    values = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    image = load_image(path)
    assert image.dtype == np.uint8 and image.min() == 0 and image.max() == 255


def test_too_large_is_refused(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (8000, 7000), 128).save(path)
    with pytest.raises(InputError, match="megapixel limit"):
        load_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "fake.jpg"
    path.write_text("hello")
    with pytest.raises(InputError, match="not a readable image"):
        load_image(path)
