import torch

from tiwcli.models.attention import attend


def test_attend_matches_softmax_formula():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 3)
    expected = torch.softmax(q @ k.transpose(1, 2) / 8**0.5, dim=-1) @ v
    assert torch.allclose(attend(q, k, v), expected, atol=1e-5)


def test_masked_keys_get_no_weight():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 8), torch.randn(1, 6, 8), torch.randn(1, 6, 2)
    mask = torch.tensor([[True, True, False, True, False, True]])
    kept = mask[0]
    expected = attend(q, k[:, kept], v[:, kept])
    assert torch.allclose(attend(q, k, v, mask), expected, atol=1e-5)
