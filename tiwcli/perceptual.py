"""Multi-scale VGG-19 perceptual loss (the paper's choice, as in FOMM / face-vid2vid).

Our own VGG-19 definition, laid out like torchvision's `vgg19().features` so that
torchvision's ImageNet file `vgg19-dcbb9e9d.pth` loads straight into it. No
registry ships those weights, so they are only read from a local file (never
downloaded): when the file is absent, `load_vgg19` raises MissingWeightsError and
the trainer switches the perceptual loss off with one notice.

Shapes: b batch, H W image size.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tiwcli.errors import InputError, MissingWeightsError

VGG19_FILE = "vgg19-dcbb9e9d.pth"
# torchvision's configuration "E": channels, "M" = max pool
_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
_TAPS = (1, 6, 11, 20, 29)  # indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in `features`
_LAYER_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0)  # FOMM weighs the five layers alike


def default_vgg19_path() -> Path:
    """torchvision's download location: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch)."""
    torch_home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "torch"
    return Path(torch_home).expanduser() / "hub" / "checkpoints" / VGG19_FILE


class VGG19Features(nn.Module):
    """VGG-19 up to relu5_1; returns the five tapped activations."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_channels, int(item), 3, padding=1), nn.ReLU()]
                in_channels = int(item)
        self.features = nn.Sequential(*layers[: _TAPS[-1] + 1])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images: (b, 3, H, W) in [0, 1]."""
        x = (images - self.mean) / self.std
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _TAPS:
                taps.append(x)
        return taps


def load_vgg19(path: Path | None = None) -> VGG19Features:
    """The frozen ImageNet VGG-19 from a local torchvision file (safe `weights_only` load)."""
    path = Path(path) if path is not None else default_vgg19_path()
    if not path.is_file():
        raise MissingWeightsError(
            f"VGG-19 weights {path.name} not found in {path.parent}; the perceptual loss is off "
            "(copy torchvision's file there to turn it on)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable VGG-19 file ({error.__class__.__name__})") from None
    network = VGG19Features()
    wanted = {key: value for key, value in state.items() if key.startswith("features.")}
    own = set(network.state_dict())
    missing = own - set(wanted)
    if missing:
        raise InputError(f"{path}: not torchvision's VGG-19 (missing {sorted(missing)[0]})")
    network.load_state_dict({key: wanted[key] for key in own})
    return network.eval().requires_grad_(False)


class PerceptualLoss(nn.Module):
    """Sum over image scales and VGG layers of the mean L1 between activations."""

    def __init__(self, network: VGG19Features, scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)) -> None:
        super().__init__()
        self.network = network
        self.scales = tuple(scales)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.network.eval()  # frozen, always
        return self

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = output.new_zeros(())
        for scale in self.scales:
            if scale != 1.0:
                output_scaled = F.interpolate(output, scale_factor=scale, mode="bilinear", antialias=True)
                target_scaled = F.interpolate(target, scale_factor=scale, mode="bilinear", antialias=True)
            else:
                output_scaled, target_scaled = output, target
            with torch.no_grad():
                target_taps = self.network(target_scaled)
            output_taps = self.network(output_scaled)
            for weight, out_tap, target_tap in zip(_LAYER_WEIGHTS, output_taps, target_taps, strict=True):
                total = total + weight * (out_tap - target_tap).abs().mean()
        return total
