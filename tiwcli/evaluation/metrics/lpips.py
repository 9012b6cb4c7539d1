"""LPIPS (Zhang et al. 2018), AlexNet variant v0.1, as the `lpips` package computes it.

d(x, y) = sum over the 5 AlexNet ReLU layers l of mean_{h,w} || w_l * (f_l(x) - f_l(y)) ||^2,
where f_l are channel-unit-normalised features (eps 1e-10) of the input scaled to
[-1, 1] and then shifted/scaled by the lpips ScalingLayer, and w_l are the learned
1x1 linear heads.

Two weight files are needed; neither is downloaded and nothing else is unpickled:
- the ImageNet AlexNet of torchvision, `alexnet-owt-7be5be79.pth`, in
  `$TORCH_HOME/hub/checkpoints/` (default `~/.cache/torch/hub/checkpoints/`);
- the linear heads `weights/v0.1/alex.pth` of the `lpips` package
  (`pip install --no-deps lpips`; the package is never imported).
Both are read with `torch.load(weights_only=True)`. When one is missing the
metric is reported as unavailable, with the file and folder named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torch import nn

from tiwcli.checkpoint import load_torch_weights
from tiwcli.errors import InputError, MissingWeightsError
from tiwcli.paths import package_folder, torch_hub_checkpoints

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
LINEAR_HEADS = ("lpips", "weights/v0.1/alex.pth")  # (package, path inside it)
CHANNELS = (64, 192, 384, 256, 256)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def alexnet_weights_path() -> Path:
    return torch_hub_checkpoints() / ALEXNET_FILE


def linear_heads_path() -> Path | None:
    folder = package_folder(LINEAR_HEADS[0])
    return folder / LINEAR_HEADS[1] if folder is not None else None


class AlexNetFeatures(nn.Module):
    """torchvision's `alexnet().features`, cut after each ReLU as lpips does; same parameter names."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),  # 0
            nn.ReLU(inplace=True),  # 1 -> relu1
            nn.MaxPool2d(kernel_size=3, stride=2),  # 2
            nn.Conv2d(64, 192, kernel_size=5, padding=2),  # 3
            nn.ReLU(inplace=True),  # 4 -> relu2
            nn.MaxPool2d(kernel_size=3, stride=2),  # 5
            nn.Conv2d(192, 384, kernel_size=3, padding=1),  # 6
            nn.ReLU(inplace=True),  # 7 -> relu3
            nn.Conv2d(384, 256, kernel_size=3, padding=1),  # 8
            nn.ReLU(inplace=True),  # 9 -> relu4
            nn.Conv2d(256, 256, kernel_size=3, padding=1),  # 10
            nn.ReLU(inplace=True),  # 11 -> relu5
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, layer in enumerate(self.features):
            images = layer(images)
            if index in (1, 4, 7, 9, 11):
                outputs.append(images)
        return outputs


class LPIPS(nn.Module):
    """Perceptual distance; `forward(pred, real)` takes (b, 3, h, w) in [0, 1] and gives (b,)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = AlexNetFeatures()
        # lpips keys are lin{i}.model.1.weight: Dropout at 0, the 1x1 conv at 1.
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", rearrange(torch.tensor(_SHIFT), "c -> 1 c 1 1"))
        self.register_buffer("scale", rearrange(torch.tensor(_SCALE), "c -> 1 c 1 1"))
        self.requires_grad_(False)

    def forward(self, pred: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        pred = ((2 * pred - 1) - self.shift) / self.scale
        real = ((2 * real - 1) - self.shift) / self.scale
        total = torch.zeros(len(pred), dtype=pred.dtype, device=pred.device)
        for head, feature_pred, feature_real in zip(
            self.heads, self.backbone(pred), self.backbone(real), strict=True
        ):
            difference = (_unit_normalise(feature_pred) - _unit_normalise(feature_real)) ** 2  # (b, c, h, w)
            total = total + head(difference).mean(dim=(1, 2, 3))
        return total

    def load_weights(self, alexnet: dict[str, torch.Tensor], heads: dict[str, torch.Tensor]) -> None:
        backbone = {key: value for key, value in alexnet.items() if key.startswith("features.")}
        self.backbone.load_state_dict(backbone, strict=True)
        self.heads.load_state_dict(
            {f"{i}.weight": heads[f"lin{i}.model.1.weight"] for i in range(len(CHANNELS))}, strict=True
        )

    @classmethod
    def load(cls) -> LPIPS:
        """The pretrained metric, or MissingWeightsError naming the missing file and its folder."""
        alexnet_path, heads_path = alexnet_weights_path(), linear_heads_path()
        if not alexnet_path.is_file():
            raise MissingWeightsError(
                f"ImageNet AlexNet weights {ALEXNET_FILE} not found in {alexnet_path.parent} "
                "(torchvision downloads it there; copy it in to enable LPIPS)"
            )
        if heads_path is None or not heads_path.is_file():
            raise MissingWeightsError(
                "LPIPS linear heads weights/v0.1/alex.pth not found (install them with "
                "`pip install --no-deps lpips`)"
            )
        model = cls()
        alexnet = load_torch_weights(alexnet_path, "AlexNet")
        heads = load_torch_weights(heads_path, "LPIPS heads")
        try:
            model.load_weights(alexnet, heads)
        except (RuntimeError, KeyError) as error:  # missing or mis-shaped tensors
            reason = str(error).splitlines()[-1].strip()
            raise InputError(
                f"{alexnet_path} or {heads_path}: not the weights LPIPS expects ({reason})"
            ) from None
        return model.eval()

    def per_frame(self, pred: np.ndarray, real: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """LPIPS per frame for (b, h, w, 3) uint8 pairs: (b,)."""
        if pred.shape != real.shape:
            raise InputError(f"LPIPS inputs differ in shape: {pred.shape} and {real.shape}")
        values = []
        with torch.inference_mode():
            for start in range(0, len(pred), batch_size):
                pair = [
                    rearrange(
                        torch.from_numpy(a[start : start + batch_size]).float() / 255, "b h w c -> b c h w"
                    )
                    for a in (pred, real)
                ]
                values.append(self(*pair).double())
        return torch.cat(values).numpy() if values else np.zeros(0)


def _unit_normalise(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    norm = torch.sqrt(torch.sum(features**2, dim=1, keepdim=True))
    return features / (norm + eps)
