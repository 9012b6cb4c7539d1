import pytest
import torch

from tiwcli.models import ImplicitWarping
from tiwcli.models.warper import CrossModalAttentionWarper


@pytest.fixture
def warper(tiny_config):
    torch.manual_seed(0)
    return CrossModalAttentionWarper(tiny_config)


def test_pack_prepends_learned_extras(warper, tiny_config):
    d, dv, extras = tiny_config.key_dim, tiny_config.value_dim, tiny_config.extra_key_values
    keys, values, pixels = torch.randn(2, 10, d), torch.randn(2, 10, dv), torch.randn(2, 10, 3)
    all_keys, packed = warper.pack(keys, values, pixels)
    assert all_keys.shape == (2, extras + 10, d)
    assert packed.shape == (2, extras + 10, dv + 3 + d)
    assert torch.equal(all_keys[:, :extras], warper.extra_keys.expand(2, -1, -1))
    assert torch.equal(packed[:, extras:, dv + 3 :], keys)  # keys ride along for the residual branch


def test_output_shape_and_residual_branch_matters(warper, tiny_config):
    d, dv = tiny_config.key_dim, tiny_config.value_dim
    keys, packed = warper.pack(torch.randn(1, 12, d), torch.randn(1, 12, dv), torch.randn(1, 12, 3))
    queries = torch.randn(1, 9, d)
    warper.eval()
    out = warper(queries, keys, packed).feature
    assert out.shape == (1, 9, dv)
    torch.nn.init.zeros_(warper.residual[-1].weight)
    torch.nn.init.zeros_(warper.residual[-1].bias)
    assert not torch.allclose(out, warper(queries, keys, packed).feature)


def test_source_dropout_only_in_training_and_never_on_extras(warper, tiny_config):
    keys = torch.randn(64, 200, tiny_config.key_dim)
    mask = warper._source_dropout_mask(keys)
    assert mask[:, : tiny_config.extra_key_values].all()
    dropped = 1 - mask[:, tiny_config.extra_key_values :].float().mean()
    assert abs(float(dropped) - tiny_config.source_dropout) < 0.02
    warper.eval()
    d, dv = tiny_config.key_dim, tiny_config.value_dim
    keys, packed = warper.pack(torch.randn(1, 12, d), torch.randn(1, 12, dv), torch.randn(1, 12, 3))
    queries = torch.randn(1, 9, d)
    assert torch.equal(warper(queries, keys, packed).feature, warper(queries, keys, packed).feature)


def test_output_invariant_to_source_order(tiny_config):
    torch.manual_seed(0)
    model = ImplicitWarping(tiny_config).eval()
    size = tiny_config.image_size
    sources, driving = torch.rand(1, 3, 3, size, size), torch.rand(2, 3, size, size)
    with torch.no_grad():
        keypoints = model.keypoint_detector(driving)
        forward = model.animate(model.encode_sources(sources), keypoints)
        shuffled = model.animate(model.encode_sources(sources[:, [2, 0, 1]]), keypoints)
    assert torch.allclose(forward, shuffled, atol=1e-5)
