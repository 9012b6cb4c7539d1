"""Ctrl-C and SIGTERM at any point of a training step, then --resume: the same weights, bit for bit,
as an uninterrupted run (tiny preset with the GAN, so the discriminator's spectral-norm vectors,
which move in every forward pass, are covered)."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest
import torch

from tiwcli.checkpoint import load_tensors
from tiwcli.config import model_preset, train_preset
from tiwcli.training.loop import train
from tiwcli.training.run import RunOptions
from tiwcli.training.trainer import Trainer

STEPS = 4
INTERRUPTED_STEP = 3  # the third step


def _options(data: Path, run_dir: Path, **overrides) -> RunOptions:
    config = dataclasses.replace(train_preset("tiny"), steps=STEPS, batch_size=2, max_sources=2)
    assert config.gan_weight > 0 and config.spectral_norm
    settings = {"checkpoint_every": 5, "sample_every": 0, "log_every": 1, "progress": False, **overrides}
    return RunOptions(
        data_dir=data, run_dir=run_dir, model_config=model_preset("tiny"), train_config=config, **settings
    )


@pytest.fixture(scope="module")
def straight_run(sample_dataset, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("straight")
    train(_options(sample_dataset, run_dir))
    return run_dir


def _interrupt_within_a_step(monkeypatch, network: str, when: str, interrupt) -> None:
    """Call `interrupt()` in step INTERRUPTED_STEP, before or after `network`'s optimiser update
    (the generator's forward pass has already moved the discriminator's spectral-norm vectors)."""
    original = Trainer._update
    calls = {"count": 0}

    def update(self: Trainer, name: str, loss: torch.Tensor, module: torch.nn.Module) -> float:
        calls["count"] += name == network
        due = name == network and calls["count"] == INTERRUPTED_STEP
        if due and when == "before":
            interrupt()
        norm = original(self, name, loss, module)
        if due and when == "after":
            interrupt()
        return norm

    monkeypatch.setattr(Trainer, "_update", update)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _assert_same_run(straight: Path, resumed: Path) -> None:
    for name in ("model.safetensors", f"checkpoints/step_{STEPS:08d}.state.safetensors"):
        expected, _ = load_tensors(straight / name)
        got, _ = load_tensors(resumed / name)
        assert expected.keys() == got.keys()
        if name.endswith(".state.safetensors"):  # the spectral-norm vectors are compared too
            assert any(key.startswith("discriminator.") and key.endswith("._u") for key in got)
        different = [key for key in expected if not torch.equal(expected[key], got[key])]
        assert not different, (name, different[:5])


@pytest.mark.parametrize(
    ("signal_number", "network", "when"),
    [
        (signal.SIGTERM, "generator", "before"),  # within the generator update
        (signal.SIGINT, "generator", "after"),  # between the generator and discriminator updates
        (signal.SIGTERM, "discriminator", "before"),  # within the discriminator update
    ],
)
def test_a_signal_within_a_step_finishes_it_then_resume_is_exact(
    sample_dataset, straight_run, tmp_path, monkeypatch, signal_number, network, when
):
    _interrupt_within_a_step(monkeypatch, network, when, lambda: os.kill(os.getpid(), signal_number))
    before = signal.signal(
        signal_number, _raise_interrupt
    )  # as in a terminal, even if this runs in the background
    try:
        with pytest.raises(KeyboardInterrupt):
            train(_options(sample_dataset, tmp_path))
        assert signal.getsignal(signal_number) is _raise_interrupt  # handlers are put back
    finally:
        signal.signal(signal_number, before)
    saved = sorted(path.name for path in (tmp_path / "checkpoints").glob("*.state.safetensors"))
    assert saved == [f"step_{INTERRUPTED_STEP:08d}.state.safetensors"]  # the step was finished, then saved
    monkeypatch.undo()
    train(_options(sample_dataset, tmp_path, resume=True))
    _assert_same_run(straight_run, tmp_path)


def test_an_immediate_interrupt_within_a_step_writes_no_checkpoint(
    sample_dataset, straight_run, tmp_path, monkeypatch
):
    """A second Ctrl-C (or any KeyboardInterrupt) mid-step stops at once: the half-done step is not
    saved, and --resume goes on from the checkpoint before it."""

    def interrupt() -> None:
        raise KeyboardInterrupt

    _interrupt_within_a_step(monkeypatch, "discriminator", "before", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(_options(sample_dataset, tmp_path, checkpoint_every=2))
    saved = sorted(path.name for path in (tmp_path / "checkpoints").glob("*.state.safetensors"))
    assert saved == [f"step_{INTERRUPTED_STEP - 1:08d}.state.safetensors"]
    monkeypatch.undo()
    train(_options(sample_dataset, tmp_path, resume=True))
    _assert_same_run(straight_run, tmp_path)
