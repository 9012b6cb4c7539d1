import numpy as np
import torch

from tiwcli.io.frames import frames_to_tensor, resize_frames, tensor_to_frames


def test_round_trip_is_exact_for_uint8_frames():
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)
    tensor = frames_to_tensor(frames)
    assert tensor.shape == (2, 3, 5, 7) and tensor.dtype == torch.float32
    assert 0 <= tensor.min() and tensor.max() <= 1
    assert np.array_equal(tensor_to_frames(tensor), frames)


def test_out_of_range_and_low_precision_values_are_clamped_and_rounded():
    images = torch.tensor([-0.5, 0.5, 1.5], dtype=torch.bfloat16).reshape(1, 3, 1, 1)
    assert tensor_to_frames(images).tolist() == [[[[0, 128, 255]]]]


def test_resize_frames_keeps_flat_colour_and_shape():
    frames = np.full((3, 40, 60, 3), 77, dtype=np.uint8)
    resized = resize_frames(frames, 20, 30)
    assert resized.shape == (3, 20, 30, 3) and resized.dtype == np.uint8
    assert (resized == 77).all()
    assert resize_frames(frames, 40, 60) is frames
