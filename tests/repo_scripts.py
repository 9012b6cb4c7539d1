"""Load one of the repository's scripts (benchmarks/, scripts/) as a module, to test its functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str, register: bool = False) -> ModuleType:
    """The module of ROOT/`relative`, named after its file; `register`: also in sys.modules (for a
    script that others import by that name)."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules.setdefault(path.stem, module)
    spec.loader.exec_module(module)
    return module
