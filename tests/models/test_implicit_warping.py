import pytest
import torch

from tiwcli.config import MODEL_PRESETS, model_preset
from tiwcli.models import ImplicitWarping


@pytest.mark.parametrize("preset", sorted(MODEL_PRESETS))
def test_every_preset_builds_and_animates(preset):
    config = model_preset(preset)
    torch.manual_seed(0)
    model = ImplicitWarping(config).eval()
    size = config.image_size
    with torch.inference_mode():
        output = model(torch.rand(1, 2, 3, size, size), torch.rand(1, 3, size, size))
    assert output.image.shape == (1, 3, size, size)
    assert output.source_keypoints.positions.shape == (1, 2, config.num_keypoints, 2)
    assert output.driving_keypoints.strengths.shape == (1, config.num_keypoints)
    assert torch.isfinite(output.image).all()
    assert 0 <= output.image.min() and output.image.max() <= 1


def test_encoding_of_batch_one_serves_a_driving_batch(tiny_config):
    torch.manual_seed(0)
    model = ImplicitWarping(tiny_config).eval()
    size = tiny_config.image_size
    sources, driving = torch.rand(1, 2, 3, size, size), torch.rand(4, 3, size, size)
    with torch.no_grad():
        encoding = model.encode_sources(sources)
        batched = model.animate(encoding, model.keypoint_detector(driving))
        one_by_one = torch.cat([model.animate(encoding, model.keypoint_detector(d[None])) for d in driving])
        expanded = model(sources.expand(4, -1, -1, -1, -1), driving).image
    assert torch.allclose(batched, one_by_one, atol=1e-5)
    assert torch.allclose(batched, expanded, atol=1e-5)


def test_more_sources_add_keys(tiny_config):
    model = ImplicitWarping(tiny_config).eval()
    size, extras = tiny_config.image_size, tiny_config.extra_key_values
    per_source = (tiny_config.feature_size // tiny_config.attention_reduction) ** 2
    for n in (1, 3):
        with torch.no_grad():
            encoding = model.encode_sources(torch.rand(1, n, 3, size, size))
        assert encoding.keys.shape[1] == extras + n * per_source
        assert encoding.num_sources == n


def test_every_parameter_gets_a_gradient(tiny_config):
    torch.manual_seed(0)
    model = ImplicitWarping(tiny_config).train()
    size = tiny_config.image_size
    output = model(torch.rand(2, 2, 3, size, size), torch.rand(2, 3, size, size))
    output.image.mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


def test_spatial_reduction_pools_keys():
    config = model_preset("base-256")
    assert config.attention_reduction == 2
    model = ImplicitWarping(config).eval()
    with torch.no_grad():
        encoding = model.encode_sources(torch.rand(1, 1, 3, 256, 256))
    assert encoding.keys.shape[1] == config.extra_key_values + (64 // 2) ** 2
