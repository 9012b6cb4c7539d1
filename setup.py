"""Build hook only (everything else is in pyproject.toml): ship the weights inside the package.

The shipped checkpoint lives in `weights/` at the repository root, where users and the model
card see it. A wheel copies every `weights/*.safetensors` into `tiwcli/weights/`, so a
non-editable `pip install .` finds it (`tiwcli.checkpoint.shipped_weights_dirs`); an editable
install or a source checkout reads `weights/` directly.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEIGHTS = Path(__file__).resolve().parent / "weights"


class BuildPyWithWeights(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the source tree's weights/ is found directly
        target = Path(self.build_lib) / "tiwcli" / "weights"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(WEIGHTS.glob("*.safetensors")):
            self.copy_file(str(path), str(target / path.name))


setup(cmdclass={"build_py": BuildPyWithWeights})
