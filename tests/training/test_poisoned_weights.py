"""Poisoned weights are refused with one clear line: NaN or infinite values (a diverged run) and
integer tensors where the model has floats (a broken conversion), in model files and training
checkpoints; a diverged run does not write (or prune down to) unusable checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from tiwcli.checkpoint import load_model, load_tensors, save_model, save_tensors
from tiwcli.cli import app
from tiwcli.errors import InputError, TiwError
from tiwcli.models import ImplicitWarping
from tiwcli.training.state import TrainingParts, checkpoint_paths, load_checkpoint, save_checkpoint


def poison(path: Path, how: str, prefix: str = "") -> str:
    """Rewrite one floating tensor of a safetensors file (whose name starts with `prefix`)."""
    tensors, metadata = load_tensors(path)
    name = next(key for key, value in tensors.items() if key.startswith(prefix) and value.is_floating_point())
    if how == "nan":
        tensors[name] = tensors[name].clone().view(-1).index_fill(0, torch.tensor([0]), float("nan"))
    elif how == "inf":
        tensors[name] = torch.full_like(tensors[name], float("inf"))
    else:  # "int64": what casting a whole state dict to integers gives
        tensors = {key: value.to(torch.int64) for key, value in tensors.items()}
    tensors[name] = tensors[name].reshape(load_tensors(path)[0][name].shape)
    save_tensors(path, tensors, metadata)
    return name


@pytest.fixture
def weights(tmp_path, tiny_config) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_model(path, ImplicitWarping(tiny_config))
    return path


@pytest.mark.parametrize(
    ("how", "message"),
    [("nan", "NaN or infinite"), ("inf", "NaN or infinite"), ("int64", "not floating point")],
)
def test_poisoned_model_files_are_refused(weights, how, message):
    name = poison(weights, how)
    with pytest.raises(InputError, match=message) as caught:
        load_model(weights)
    assert name in str(caught.value) or how == "int64"
    assert "\n" not in str(caught.value)


def test_animate_refuses_nan_weights_in_one_line(weights, tmp_path, face_photo, carphone):
    poison(weights, "nan")
    out = tmp_path / "out.mp4"
    args = [face_photo, carphone, "-o", out, "--weights", weights, "--no-crop"]
    result = CliRunner().invoke(app, ["animate", *map(str, args)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "NaN or infinite" in lines[0], result.stderr
    assert not out.exists()


def training_parts(tiny_config) -> TrainingParts:
    torch.manual_seed(0)
    model = ImplicitWarping(tiny_config)
    discriminator = nn.Linear(3, 2)
    optimizers = {
        "generator": torch.optim.Adam(model.parameters()),
        "discriminator": torch.optim.Adam(discriminator.parameters()),
    }
    for optimizer, module in ((optimizers["generator"], model), (optimizers["discriminator"], discriminator)):
        for parameter in module.parameters():
            parameter.grad = torch.ones_like(parameter)
        optimizer.step()  # so the optimisers have state tensors
    return TrainingParts(model, discriminator, optimizers)


@pytest.mark.parametrize(
    ("file", "prefix", "how"),
    [
        ("model", "", "nan"),
        ("model", "", "int64"),
        ("state", "discriminator.", "inf"),
        ("state", "optimizer.", "nan"),
    ],
)
def test_poisoned_training_checkpoints_are_refused(tmp_path, tiny_config, file, prefix, how):
    parts = training_parts(tiny_config)
    save_checkpoint(tmp_path, 1, parts, {})
    model_path, state_path = checkpoint_paths(tmp_path, 1)
    poison(model_path if file == "model" else state_path, how, prefix)
    with pytest.raises(InputError, match=r"NaN or infinite|not floating point"):
        load_checkpoint(tmp_path, 1, training_parts(tiny_config))


def test_a_diverged_model_is_not_checkpointed(tmp_path, tiny_config):
    parts = training_parts(tiny_config)
    save_checkpoint(tmp_path, 1, parts, {})
    with torch.no_grad():
        next(parts.model.parameters()).fill_(float("nan"))
    with pytest.raises(TiwError, match="diverged"):
        save_checkpoint(tmp_path, 2, parts, {})
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "step_00000001.safetensors",
        "step_00000001.state.safetensors",
    ]


def test_read_model_file_refuses_nan_for_every_caller(weights):
    """`tiw train --init` and `tiw eval` read weights through read_model_file too."""
    from tiwcli.checkpoint import read_model_file

    poison(weights, "nan")
    with pytest.raises(InputError, match="NaN or infinite"):
        read_model_file(weights)


@pytest.mark.parametrize(("how", "message"), [("int64", "not floating point"), ("nan", "NaN or infinite")])
def test_train_init_refuses_poisoned_weights(weights, tiny_config, how, message):
    """--init weights cast to integers would be cast back to floats silently by load_state_dict."""
    from tiwcli.training.trainer import _init_weights

    poison(weights, how)
    with pytest.raises(InputError, match=message):
        _init_weights(ImplicitWarping(tiny_config), weights)
