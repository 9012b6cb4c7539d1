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


def test_a_narrower_keypoint_detector_starts_from_the_teachers_channels(distill, teacher_file):
    """Every hourglass tensor is the teacher's first channels; a decoder conv, which reads the
    upsampled map and the skip side by side, takes the first channels of each part."""
    teacher = load_model(teacher_file).eval()  # keypoint_channels 8, depth 2: widths 8, 16, 32
    student = distill.narrowed(teacher, 8, keypoint_channels=4).eval()  # widths 4, 8, 16
    assert student.config.keypoint_channels == 4 and student.config.generator_channels == 8
    taught = teacher.state_dict()
    stem = student.keypoint_detector.hourglass.stem[0].weight  # (4, 3, 3, 3)
    assert torch.equal(stem, taught["keypoint_detector.hourglass.stem.0.weight"][:4])
    deepest = student.keypoint_detector.hourglass.up[0][0].weight  # (8, 16 + 8, 3, 3): level 1
    wide = taught["keypoint_detector.hourglass.up.0.0.weight"]  # (16, 32 + 16, 3, 3)
    assert torch.equal(deepest[:, :16], wide[:8, :16])  # the upsampled part
    assert torch.equal(deepest[:, 16:], wide[:8, 32:40])  # the skip part
    for name, tensor in student.state_dict().items():
        if not name.startswith("keypoint_detector."):
            assert torch.equal(tensor, taught[name]), name
    with torch.inference_mode():
        keypoints = student.keypoint_detector(torch.rand(2, 3, 64, 64))
    assert keypoints.positions.shape == (2, teacher.config.num_keypoints, 2)


def test_distil_with_narrower_keypoints_trains_both_and_resumes(
    distill, teacher_file, sample_dataset, tmp_path
):
    out = tmp_path / "run"
    args = [str(teacher_file), "--data", str(sample_dataset), "--out", str(out)]
    args += ["--generator-channels", "8", "--keypoint-channels", "4", "--batch-size", "2"]
    assert distill.main([*args, "--steps", "2", "--checkpoint-every", "1"]) == 0
    student = load_model(out / "student_00000002.safetensors")
    assert student.config.keypoint_channels == 4
    first = distill.narrowed(load_model(teacher_file), 8, keypoint_channels=4)
    for part in ("keypoint_detector", "generator"):
        trained = getattr(student, part).parameters()
        assert any(
            not torch.equal(p, q) for p, q in zip(trained, getattr(first, part).parameters(), strict=True)
        )
    taught = first.state_dict()
    for name, tensor in student.state_dict().items():
        if not name.startswith(("keypoint_detector.", "generator.")):
            assert torch.equal(tensor, taught[name]), name  # frozen
    # resuming at the last step trains nothing and saves what it loaded: both parts come back
    assert distill.main([*args, "--steps", "2", "--resume"]) == 0
    again = load_model(out / "student_00000002.safetensors")
    for name, tensor in again.state_dict().items():
        assert torch.equal(tensor, student.state_dict()[name]), name
    assert distill.main([*args, "--steps", "3", "--resume"]) == 0
    assert load_model(out / "student_00000003.safetensors").config.keypoint_channels == 4


def test_student_must_be_narrower(distill, teacher_file, tmp_path):
    run = [str(teacher_file), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit):
        distill.main([*run, "--generator-channels", "8"])
    with pytest.raises(SystemExit):  # the keypoint detector must narrow too, when asked
        distill.main([*run, "--keypoint-channels", "8"])
