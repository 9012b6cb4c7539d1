"""A run folder and the settings of a run: what `tiw train --out RUN_DIR` reads and writes.

RUN_DIR/
  run.json            the model and training configs and the schedule (RUN_FILE: "a run lives here")
  checkpoints/        step_SSSSSSSS(.state).safetensors (training/state.py)
  samples/            step_SSSSSS.png sample grids
  log.jsonl           one line per logged step
  model.safetensors   the newest generator, for `tiw animate --weights`

`resolve_settings` decides a run's configs from the command line: the run's own on --resume,
else the preset's (or the --init weights'), then the options given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tiwcli.config import ModelConfig, TrainConfig
from tiwcli.errors import InputError, OutputError
from tiwcli.io.files import reason
from tiwcli.training.state import completed_steps

if TYPE_CHECKING:
    from tiwcli.models import ImplicitWarping

RUN_FILE = "run.json"  # the configs of a run: its presence means "a run lives here"
CHECKPOINTS_DIR = "checkpoints"
SAMPLES_DIR = "samples"
LOG_FILE = "log.jsonl"
MODEL_FILE = "model.safetensors"
# How often a run writes what; kept in RUN_FILE, so --resume goes on with the run's own values.
SCHEDULE_DEFAULTS = {"checkpoint_every": 1000, "keep": 3, "sample_every": 500, "log_every": 10}


@dataclass
class RunOptions:
    """Everything about a run that is not a loss or an optimiser setting."""

    data_dir: Path
    run_dir: Path
    model_config: ModelConfig
    train_config: TrainConfig
    resume: bool = False
    init: Path | None = None  # start the generator from these weights
    device: str = "auto"
    checkpoint_every: int = 1000
    keep: int = 3  # newest checkpoints kept
    sample_every: int = 500
    log_every: int = 10
    num_workers: int = 0
    cache_clips: bool = True  # decode every training clip once into memory (else on each use)
    gan: bool = True
    vgg_path: Path | None = None  # default: torchvision's cache folder
    progress: bool = True
    on_step: Callable[[int], None] | None = field(default=None, repr=False)  # called after each step (tests)


@dataclass
class TrainResult:
    step: int  # the step reached
    model_path: Path  # RUN_DIR/model.safetensors (written by rank 0)
    last_losses: dict[str, float]  # of the last step, this process
    model: ImplicitWarping  # the trained generator of this process (unwrapped)


def check_run_dir(options: RunOptions) -> int:
    """Refuse to overwrite a run; on --resume return the step to continue from (0 if none)."""
    run_file = options.run_dir / RUN_FILE
    if not options.resume:
        if run_file.exists():
            raise InputError(
                f"{options.run_dir}: holds a training run already (pass --resume to continue it)"
            )
        return 0
    if not run_file.exists():
        raise InputError(f"{options.run_dir}: no training run to resume")
    saved_model_config, _ = read_run_configs(options.run_dir)
    if saved_model_config != options.model_config:
        raise InputError(f"{options.run_dir}: the run was started with another model config")
    steps = completed_steps(options.run_dir / CHECKPOINTS_DIR)
    done = steps[-1] if steps else 0
    if done > options.train_config.steps:
        raise InputError(
            f"--steps {options.train_config.steps}: the run in {options.run_dir} has completed {done} "
            f"steps already; give --steps {done} or more, or leave it out"
        )
    return done


def _read_run_file(run_dir: Path) -> dict:
    try:
        saved = json.loads((run_dir / RUN_FILE).read_text())
        if not isinstance(saved, dict):
            raise TypeError
        return saved
    except (OSError, ValueError, TypeError) as error:
        raise InputError(f"{run_dir / RUN_FILE}: unreadable run file ({error.__class__.__name__})") from None


def read_run_configs(run_dir: Path) -> tuple[ModelConfig, TrainConfig]:
    saved = _read_run_file(run_dir)
    try:
        return ModelConfig.from_json(saved["model_config"]), TrainConfig.from_json(saved["train_config"])
    except (KeyError, ValueError, TypeError) as error:
        raise InputError(f"{run_dir / RUN_FILE}: unreadable run file ({error.__class__.__name__})") from None


def read_run_schedule(run_dir: Path) -> dict[str, int]:
    """The --checkpoint-every, --keep, --sample-every, --log-every a run was started (or last resumed)
    with; runs written before these were kept give {} (the defaults then apply)."""
    saved = _read_run_file(run_dir).get("options", {})
    try:
        return {name: int(saved[name]) for name in SCHEDULE_DEFAULTS if name in saved}
    except (ValueError, TypeError) as error:
        raise InputError(f"{run_dir / RUN_FILE}: unreadable run file ({error.__class__.__name__})") from None


def write_run_file(options: RunOptions) -> None:
    """RUN_FILE, atomically (a full disk leaves the previous one, never half a file)."""
    path = options.run_dir / RUN_FILE
    record = {
        "model_config": options.model_config.to_json(),
        "train_config": options.train_config.to_json(),
        "options": {name: getattr(options, name) for name in SCHEDULE_DEFAULTS},
    }
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        options.run_dir.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(temporary, path)
    except OSError as error:
        raise OutputError(f"{path}: could not be written ({reason(error)})") from None
    finally:
        with contextlib.suppress(OSError):  # e.g. its folder could not be made
            temporary.unlink(missing_ok=True)


def resolve_settings(
    run_dir: Path,
    *,
    preset: str | None,
    resume: bool,
    init: Path | None,
    overrides: dict[str, object],
    gan: bool | None = None,
    schedule: dict[str, int | None] | None = None,
) -> tuple[ModelConfig, TrainConfig, dict[str, int]]:
    """(model config, train config, schedule) of a run from the command line's options (None: not
    given). On --resume: the run's saved configs and schedule, then the options given again;
    options that contradict the run (--preset of another model, --init, --gan on a run without
    it) are one-line errors, and so is --steps below the completed steps (`check_run_dir`).
    Else: the --init weights' or the preset's model (default DEFAULT_TRAIN_PRESET), the training defaults of
    that model's preset, then the options."""
    from tiwcli.config import DEFAULT_TRAIN_PRESET, MODEL_PRESETS, model_preset, train_preset

    given = {name: value for name, value in overrides.items() if value is not None}
    if gan is False:  # kept in the run's config, so a resumed run stays GAN-free
        given.update(gan_weight=0.0, feature_matching_weight=0.0)
    schedule_given = {name: value for name, value in (schedule or {}).items() if value is not None}
    if resume:
        if not (run_dir / RUN_FILE).exists():
            raise InputError(f"{run_dir}: no training run to resume")
        model_config, train_config = read_run_configs(run_dir)
        run_preset = next((name for name, config in MODEL_PRESETS.items() if config == model_config), None)
        if preset is not None and model_preset(preset) != model_config:
            raise InputError(
                f"--preset {preset}: the run in {run_dir} was started with "
                f"{f'--preset {run_preset}' if run_preset else 'another model config'}; leave --preset out"
            )
        if init is not None:
            raise InputError("--init: a resumed run goes on from its own checkpoint; leave --init out")
        if gan and not train_config.has_gan:
            raise InputError(f"--gan: the run in {run_dir} was started without the GAN; it cannot be added")
        schedule_given = {**SCHEDULE_DEFAULTS, **read_run_schedule(run_dir), **schedule_given}
        return model_config, _with_discriminator(dataclasses.replace(train_config, **given)), schedule_given
    if init is not None:
        from tiwcli.checkpoint import read_model_file

        model_config, _, _ = read_model_file(init)
        named = [name for name, config in MODEL_PRESETS.items() if config == model_config]
        if preset is not None and not model_preset(preset).same_weights_as(model_config):
            found = f"of preset {named[0]}" if named else "of another model config"
            raise InputError(f"--init {init}: the weights are {found}, not of --preset {preset}")
        if preset is not None:  # the preset's priors over the weights' (they own no weights)
            model_config = model_preset(preset)
        preset = preset or (named[0] if named else None)
    else:
        model_config = model_preset(preset or DEFAULT_TRAIN_PRESET)
    train_config = train_preset(preset or DEFAULT_TRAIN_PRESET)
    if gan and not train_config.has_gan:
        defaults = TrainConfig()  # the preset trains without the GAN: --gan brings the usual weights
        given = {
            "gan_weight": defaults.gan_weight,
            "feature_matching_weight": defaults.feature_matching_weight,
            **given,
        }
    train_config = _with_discriminator(dataclasses.replace(train_config, **given))
    return model_config, train_config, {**SCHEDULE_DEFAULTS, **schedule_given}


def _with_discriminator(config: TrainConfig) -> TrainConfig:
    """`config` as it is, or a one-line error where a loss needs the discriminator and the run has none."""
    if config.mouth_gan_weight > 0 and not config.has_gan:
        raise InputError("--mouth-gan-weight: the GAN's discriminator scores the mouth; train with --gan")
    return config
