"""A non-editable install carries the shipped weights inside the package, and `tiw` finds them;
a renamed release checkpoint is still found; no needless runtime pins."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tiwcli import checkpoint

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built offline from a copy of the project whose weights/ holds a stand-in file."""
    pytest.importorskip("setuptools")
    source = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "tiwcli", source / "tiwcli", ignore=shutil.ignore_patterns("__pycache__"))
    (source / "weights").mkdir()
    (source / "weights" / "tiw-next-release.safetensors").write_bytes(b"stand-in weights")
    (source / "weights" / "README.md").write_text("model card\n")
    dist = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist]
    subprocess.run([*map(str, command), str(source)], check=True, capture_output=True, timeout=300)
    return next(dist.glob("tiw-*.whl"))


def test_wheel_ships_the_weights_inside_the_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "tiwcli/weights/tiw-next-release.safetensors" in names
        assert archive.read("tiwcli/weights/tiw-next-release.safetensors") == b"stand-in weights"
        metadata = archive.read(next(name for name in names if name.endswith("METADATA"))).decode()
    assert "Requires-Dist: setuptools" not in metadata  # face_recognition_models is never imported


def test_installed_package_finds_its_weights(wheel, tmp_path, monkeypatch):
    """The unpacked wheel, imported from another folder: the default is the file inside it."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    script = "from tiwcli.checkpoint import default_weights_path as d; print(d())"
    monkeypatch.delenv("TIW_WEIGHTS", raising=False)
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {script}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        tmp_path / "site" / "tiwcli" / "weights" / "tiw-next-release.safetensors"
    )


def test_default_name_first_then_the_only_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("TIW_WEIGHTS", raising=False)
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(checkpoint, "shipped_weights_dirs", lambda: [folder])
    assert checkpoint.default_weights_path() == folder / checkpoint.DEFAULT_WEIGHTS_NAME  # absent
    (folder / "renamed.safetensors").write_bytes(b"x")
    assert checkpoint.default_weights_path() == folder / "renamed.safetensors"
    (folder / checkpoint.DEFAULT_WEIGHTS_NAME).write_bytes(b"x")
    assert checkpoint.default_weights_path() == folder / checkpoint.DEFAULT_WEIGHTS_NAME
    monkeypatch.setenv("TIW_WEIGHTS", str(tmp_path / "mine.safetensors"))
    assert checkpoint.default_weights_path() == tmp_path / "mine.safetensors"


def test_wheel_holds_every_subpackage(wheel):
    folders = {path.parent for path in (REPO / "tiwcli").rglob("*.py") if "__pycache__" not in path.parts}
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for folder in folders:
        init = folder.relative_to(REPO) / "__init__.py"
        assert (folder / "__init__.py").is_file() and init.as_posix() in names, init
