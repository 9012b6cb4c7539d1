"""LPIPS: the math with random weights against a hand computation, weight loading, the
'unavailable' path (library and CLI)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from tiwcli.cli import app
from tiwcli.errors import MissingWeightsError
from tiwcli.evaluation.metrics import RowAccumulator, Scorer
from tiwcli.evaluation.metrics.lpips import ALEXNET_FILE, CHANNELS, LPIPS, linear_heads_path
from tiwcli.io.video import VideoWriter, read_all_frames


def random_lpips(seed: int = 0) -> LPIPS:
    torch.manual_seed(seed)
    model = LPIPS()
    for head in model.heads:  # lpips heads are non-negative
        head.weight.data = head.weight.data.abs()
    return model.eval()


def hand_lpips(model: LPIPS, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The definition written out layer by layer, with explicit convolutions."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    convs = [model.backbone.features[i] for i in (0, 3, 6, 8, 10)]

    def features(image):
        h = ((2 * image - 1) - shift) / scale
        outputs = []
        for index, conv in enumerate(convs):
            if index in (1, 2):
                h = F.max_pool2d(h, 3, 2)
            h = F.relu(F.conv2d(h, conv.weight, conv.bias, stride=conv.stride, padding=conv.padding))
            outputs.append(h)
        return outputs

    total = torch.zeros(len(x))
    for head, fx, fy in zip(model.heads, features(x), features(y), strict=True):
        nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        weights = head.weight.view(-1)  # (c,)
        total += torch.einsum("bchw,c->bhw", (nx - ny) ** 2, weights).mean(dim=(1, 2))
    return total


def test_lpips_matches_the_hand_computation_with_random_weights(carphone):
    model = random_lpips()
    frames = read_all_frames(carphone, max_frames=2)[:, :64, :64]
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    y = torch.flip(x, dims=[0])
    with torch.inference_mode():
        expected = hand_lpips(model, x, y)
        got = model(x, y)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert (got > 0).all()
    assert np.allclose(model.per_frame(frames, frames), 0.0, atol=1e-7)


def test_pretrained_files_load_with_torchvision_names(tmp_path, monkeypatch):
    # A stand-in AlexNet file with torchvision's key names (features.* and classifier.*).
    state = {
        f"features.{key}": value for key, value in random_lpips(1).backbone.features.state_dict().items()
    }
    state["classifier.1.weight"] = torch.zeros(2, 2)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(state, folder / ALEXNET_FILE)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    if linear_heads_path() is None or not linear_heads_path().is_file():
        with pytest.raises(MissingWeightsError, match=r"alex\.pth"):
            LPIPS.load()
        return
    model = LPIPS.load()  # real lpips heads + stand-in backbone
    assert torch.equal(model.backbone.features[0].weight, state["features.0.weight"])
    heads = torch.load(linear_heads_path(), map_location="cpu", weights_only=True)
    for index, channels in enumerate(CHANNELS):
        assert model.heads[index].weight.shape == (1, channels, 1, 1)
        assert torch.equal(model.heads[index].weight, heads[f"lin{index}.model.1.weight"])


def test_missing_backbone_is_reported_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=re.escape(ALEXNET_FILE)) as error:
        LPIPS.load()
    assert str(tmp_path / "hub" / "checkpoints") in str(error.value)
    scorer = Scorer(["l1", "lpips"])
    assert "lpips" in scorer.unavailable and "l1" not in scorer.unavailable
    result = scorer.result(RowAccumulator())
    assert result["lpips"].value is None and result["lpips"].note.startswith("unavailable: ")
    assert ALEXNET_FILE in result["lpips"].note


def test_missing_backbone_through_the_cli(tmp_path, monkeypatch, carphone):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for folder in ("pred", "real"):
        (tmp_path / folder).mkdir()
        with VideoWriter(tmp_path / folder / "clip.mp4", 25) as writer:
            writer.write_batch(read_all_frames(carphone, max_frames=3))
    result = CliRunner().invoke(
        app,
        ["eval", "--pred", str(tmp_path / "pred"), "--real", str(tmp_path / "real"), "--metrics", "l1,lpips"],
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert f"LPIPS unavailable: ImageNet AlexNet weights {ALEXNET_FILE} not found" in result.output


@pytest.mark.parametrize("kind", ["truncated", "hostile pickle"])
def test_a_broken_backbone_file_is_one_line(tmp_path, monkeypatch, carphone, kind):
    """D10: a partial download (or a hostile pickle) of the AlexNet file under $TORCH_HOME is one
    line naming it, exit 2 (before: a traceback)."""
    import pickle

    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    path = folder / ALEXNET_FILE
    if kind == "truncated":
        state = {
            f"features.{key}": value for key, value in random_lpips(1).backbone.features.state_dict().items()
        }
        torch.save(state, path)
        path.write_bytes(path.read_bytes()[:3000])
    else:
        path.write_bytes(pickle.dumps({"features.0.weight": _Hostile()}))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for name in ("pred", "real"):
        (tmp_path / name).mkdir()
        with VideoWriter(tmp_path / name / "clip.mp4", 25) as writer:
            writer.write_batch(read_all_frames(carphone, max_frames=3))
    result = CliRunner().invoke(
        app,
        ["eval", "--pred", str(tmp_path / "pred"), "--real", str(tmp_path / "real"), "--metrics", "lpips"],
    )
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and ALEXNET_FILE in lines[0] and "not a readable AlexNet file" in lines[0], lines


class _Hostile:
    def __reduce__(self):
        import os

        return (os.getcwd, ())
