import numpy as np
import torch

from tiwcli.frames import frames_to_tensor, tensor_to_frames


def test_round_trip_is_exact_for_uint8_frames():
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)
    tensor = frames_to_tensor(frames)
    assert tensor.shape == (2, 3, 5, 7) and tensor.dtype == torch.float32
    assert 0 <= tensor.min() and tensor.max() <= 1
    assert np.array_equal(tensor_to_frames(tensor), frames)


def test_out_of_range_and_low_precision_values_are_clamped_and_rounded():
    images = torch.tensor([-0.5, 0.5, 1.5], dtype=torch.bfloat16).reshape(1, 3, 1, 1)
    assert tensor_to_frames(images).tolist() == [[[[0, 128, 255]]]]
