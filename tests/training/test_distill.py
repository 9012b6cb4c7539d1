"""scripts/training/distill.py: the student keeps the teacher's warp and trains its generator."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from tests.repo_scripts import load_script
from tiwcli.checkpoint import load_model, save_model
from tiwcli.models import ImplicitWarping


@pytest.fixture(scope="module")
def distill():
    return load_script("scripts/training/distill.py")


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory, tiny_config) -> Path:
    config = dataclasses.replace(tiny_config, full_resolution_warp=True, generator_channels=8)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "teacher.safetensors"
    save_model(path, ImplicitWarping(config))
    return path


def test_student_keeps_everything_but_a_narrower_generator(distill, teacher_file):
    teacher = load_model(teacher_file).eval()
    student = distill.narrowed(teacher, 4).eval()
    assert student.config.generator_channels == 4
    taught = teacher.state_dict()
    for name, tensor in student.state_dict().items():
        if name.startswith("generator."):
            assert tensor.numel() <= taught[name].numel()
        else:
            assert torch.equal(tensor, taught[name]), name
    assert sum(p.numel() for p in student.generator.parameters()) < sum(
        p.numel() for p in teacher.generator.parameters()
    )
    torch.manual_seed(1)
    sources, driving = torch.rand(1, 2, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        a, b = teacher(sources, driving), student(sources, driving)
    torch.testing.assert_close(a.warped_sources, b.warped_sources)  # the same warp
    assert b.image.shape == a.image.shape and b.mask is not None


def test_distil_trains_saves_and_resumes(distill, teacher_file, sample_dataset, tmp_path):
    out = tmp_path / "run"
    args = [str(teacher_file), "--data", str(sample_dataset), "--out", str(out), "--generator-channels", "4"]
    assert distill.main([*args, "--steps", "2", "--checkpoint-every", "1", "--batch-size", "2"]) == 0
    student = load_model(out / "student_00000002.safetensors")
    assert student.config.generator_channels == 4
    teacher = load_model(teacher_file)
    first = distill.narrowed(teacher, 4)
    changed = any(
        not torch.equal(p, q)
        for p, q in zip(student.generator.parameters(), first.generator.parameters(), strict=True)
    )
    assert changed  # the generator trained
    taught = teacher.state_dict()
    for name, tensor in student.state_dict().items():
        if not name.startswith("generator."):
            assert torch.equal(tensor, taught[name]), name  # frozen: the teacher's warp
    assert distill.main([*args, "--steps", "3", "--resume", "--batch-size", "2"]) == 0
    assert (out / "student_00000003.safetensors").exists()


def test_student_must_be_narrower(distill, teacher_file, tmp_path):
    with pytest.raises(SystemExit):
        distill.main(
            [
                str(teacher_file),
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
                "--generator-channels",
                "8",
            ]
        )
