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


def test_inference_on_the_cpu_gives_what_training_does_with_either_bias_shape():
    """Without autograd the CPU takes `_attend_in_place` (one buffer, softmax over it); with
    autograd, SDPA. Both give the formula's result, with a bias per query-key pair or per batch."""
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 3)
    for bias in (None, torch.randn(5, 7), torch.randn(2, 5, 7)):
        logits = q @ k.transpose(1, 2) / 8**0.5 + (0 if bias is None else bias)
        expected = torch.softmax(logits, dim=-1) @ v
        with torch.inference_mode():
            fast = attend(q, k, v, bias=bias)
        trained = attend(q.requires_grad_(), k, v, bias=bias)
        trained.sum().backward()
        assert q.grad is not None and torch.isfinite(q.grad).all()
        q = q.detach()
        assert torch.allclose(fast, expected, atol=1e-5)
        assert torch.allclose(trained, expected, atol=1e-5)
