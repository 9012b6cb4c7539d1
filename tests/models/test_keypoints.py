import torch

from tiwcli.models.heatmaps import keypoint_heatmaps
from tiwcli.models.keypoints import KeypointDetector, Keypoints
from tiwcli.models.layers import coordinate_grid


def test_detector_shapes_and_ranges(tiny_config):
    detector = KeypointDetector(tiny_config)
    keypoints = detector(torch.rand(3, 3, tiny_config.image_size, tiny_config.image_size))
    assert keypoints.positions.shape == (3, tiny_config.num_keypoints, 2)
    assert keypoints.strengths.shape == (3, tiny_config.num_keypoints)
    assert keypoints.positions.abs().max() <= 1
    assert ((keypoints.strengths > 0) & (keypoints.strengths < 1)).all()


def test_detector_follows_a_shifted_image(tiny_config):
    """Soft-argmax on a sharp peak: rolling the input moves the keypoints with it."""
    torch.manual_seed(0)
    detector = KeypointDetector(tiny_config).eval()
    image = torch.zeros(1, 3, 64, 64)
    image[..., 20:28, 20:28] = 1.0
    moved = torch.roll(image, shifts=(8, 8), dims=(-2, -1))
    with torch.no_grad():
        before, after = detector(image).positions, detector(moved).positions
    assert not torch.allclose(before, after)


def test_coordinate_grid_is_pixel_centres():
    grid = coordinate_grid(4)
    assert torch.allclose(grid[0, :, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    assert torch.allclose(grid[:, 0, 1], torch.tensor([-0.75, -0.25, 0.25, 0.75]))


def test_heatmap_peaks_at_keypoint_scaled_by_strength():
    keypoints = Keypoints(positions=torch.tensor([[[-0.75, 0.25]]]), strengths=torch.tensor([[0.5]]))
    heatmaps = keypoint_heatmaps(keypoints, size=4, sigma=0.1)
    assert heatmaps.shape == (1, 1, 4, 4)
    row, column = divmod(int(heatmaps.flatten().argmax()), 4)
    assert (row, column) == (2, 0)
    assert torch.isclose(heatmaps.max(), torch.tensor(0.5))
