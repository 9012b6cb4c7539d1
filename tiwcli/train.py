"""The training loop: self-supervised reconstruction of a driving frame from 1..N sources.

One step = one generator update (all generator-side losses, see losses.py) then
one discriminator update (hinge). Choices the paper leaves open, and ours:
- Adam with betas (0.5, 0.999) for both networks, as in FOMM / face-vid2vid: a low
  beta1 keeps the GAN game stable.
- Learning rate: linear warmup, then cosine decay to `min_lr_ratio` of the peak.
- Gradient clipping of each network's global norm; bf16 autocast on CUDA only.
- Every random draw of step i (batch, augmentation, warps, source dropout) comes
  from generators seeded by (seed, i, rank) (torch, numpy and `random` are all reseeded
  at the start of each step), so resuming from a checkpoint gives bit-for-bit the same
  weights as an uninterrupted run.
- Ctrl-C and SIGTERM are acted upon between steps only: the step under way finishes,
  then its checkpoint is saved (a step half done would already have moved the weights,
  the Adam state or the discriminator's spectral-norm vectors). A second signal stops at
  once, and then no checkpoint is written if a step was under way.
Only rank 0 writes files, logs and the progress bar.

Shapes: b batch, n sources, H W image size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from tiwcli.config import ModelConfig, TrainConfig
from tiwcli.data import Batch, ClipStore, TrainBatches, fixed_batch, list_clips, step_seed
from tiwcli.distributed import (
    DistributedContext,
    any_rank,
    barrier,
    init_distributed,
    process_device,
    shutdown,
    wrap,
)
from tiwcli.errors import InputError, MissingWeightsError, OutputError
from tiwcli.files import reason, sigterm_as_interrupt
from tiwcli.images import save_image
from tiwcli.losses import GeneratorObjective, discriminator_loss
from tiwcli.models import ImplicitWarping
from tiwcli.models.discriminator import MultiScaleDiscriminator
from tiwcli.perceptual import PerceptualLoss, load_perceptual_network
from tiwcli.train_state import (
    TrainingParts,
    completed_steps,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)

RUN_FILE = "run.json"  # the configs of a run: its presence means "a run lives here"
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


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warmup (at most a tenth of the run) then cosine decay to lr * min_lr_ratio."""
    warmup = min(config.warmup_steps, config.steps // 10)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(config.steps - warmup, 1)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


# -- setting up ---------------------------------------------------------------------


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
    steps = completed_steps(options.run_dir / "checkpoints")
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


def _write_run_file(options: RunOptions) -> None:
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
    Else: the --init weights' or the preset's model (default warp-256), the training defaults of
    that model's preset, then the options."""
    from tiwcli.config import MODEL_PRESETS, model_preset, train_preset

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
        has_gan = train_config.gan_weight > 0 or train_config.feature_matching_weight > 0
        if gan and not has_gan:
            raise InputError(f"--gan: the run in {run_dir} was started without the GAN; it cannot be added")
        schedule_given = {**SCHEDULE_DEFAULTS, **read_run_schedule(run_dir), **schedule_given}
        return model_config, dataclasses.replace(train_config, **given), schedule_given
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
        model_config = model_preset(preset or "warp-256")
    train_config = train_preset(preset or "warp-256")
    if gan and train_config.gan_weight == 0 and train_config.feature_matching_weight == 0:
        defaults = TrainConfig()  # the preset trains without the GAN: --gan brings the usual weights
        given = {
            "gan_weight": defaults.gan_weight,
            "feature_matching_weight": defaults.feature_matching_weight,
            **given,
        }
    return model_config, dataclasses.replace(train_config, **given), {**SCHEDULE_DEFAULTS, **schedule_given}


def _load_perceptual(options: RunOptions, console: Console, is_main: bool) -> PerceptualLoss | None:
    if options.train_config.perceptual_weight <= 0:
        return None
    try:
        network = load_perceptual_network(options.train_config.perceptual_network, options.vgg_path)
        return PerceptualLoss(network, options.train_config.pyramid_scales)
    except MissingWeightsError as error:
        if is_main:
            console.print(f"[yellow]note:[/] {error}")
        return None


def _init_weights(model: ImplicitWarping, path: Path) -> None:
    """Load --init weights: same config up to the priors (which own no weights: a run may switch
    the landmark prior on over older weights), no NaN/inf (read_model_file), floats where the model
    has floats (integer weights would be cast silently by load_state_dict)."""
    from tiwcli.checkpoint import check_weights, read_model_file

    config, tensors, _ = read_model_file(path)
    if not config.same_weights_as(model.config):
        raise InputError(f"{path}: --init weights are for another model config than this run's")
    check_weights(path, tensors, dict(model.state_dict()))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise InputError(f"{path}: --init weights do not fit ({str(error).splitlines()[0][:200]})") from None


@dataclass
class Trainer:
    """The networks, their optimisers and one training step."""

    model: ImplicitWarping
    objective: torch.nn.Module  # GeneratorObjective, maybe DDP-wrapped
    discriminator: MultiScaleDiscriminator | None
    discriminator_step: torch.nn.Module | None  # the discriminator, maybe DDP-wrapped
    optimizers: dict[str, torch.optim.Optimizer]
    config: TrainConfig
    device: torch.device

    @property
    def parts(self) -> TrainingParts:
        return TrainingParts(self.model, self.discriminator, self.optimizers)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _update(self, name: str, loss: torch.Tensor, module: torch.nn.Module) -> float:
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(
            module.parameters(), self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        )
        optimizer.step()
        return float(norm)

    def step(self, batch: Batch, step: int) -> dict[str, float]:
        """One generator and one discriminator update; returns the losses as floats."""
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(self.config, step)
        if self.discriminator is not None:
            self.discriminator.requires_grad_(False)  # the generator step must not touch it
        landmarks = None
        if batch.source_landmarks is not None and batch.driving_landmarks is not None:
            landmarks = (batch.source_landmarks, batch.driving_landmarks)
        warp_only = self.model.config.full_resolution_warp and step < self.config.warp_only_steps
        with self._autocast():
            result = self.objective(batch.sources, batch.driving, self.discriminator, landmarks, warp_only)
        losses = {name: float(value.detach()) for name, value in result.losses.items()}
        losses["grad_norm"] = self._update("generator", result.losses["total"], self.model)
        if self.discriminator is not None and self.discriminator_step is not None:
            self.discriminator.requires_grad_(True)
            with self._autocast():
                loss = discriminator_loss(self.discriminator_step, batch.driving, result.image)
            losses["discriminator"] = float(loss.detach())
            self._update("discriminator", loss, self.discriminator)
        return losses


def build_trainer(
    options: RunOptions, context: DistributedContext, device: torch.device, console: Console | None = None
) -> Trainer:
    config = options.train_config
    console = console or Console(stderr=True, highlight=False, soft_wrap=True)
    torch.manual_seed(config.seed)  # same initial weights on every rank
    model = ImplicitWarping(options.model_config)
    if options.init is not None:
        _init_weights(model, options.init)
    model.to(device).train()
    perceptual = _load_perceptual(options, console, context.is_main)
    objective = GeneratorObjective(model, config, perceptual).to(device).train()
    optimizers = {"generator": torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas)}
    discriminator = None
    if options.gan and (config.gan_weight > 0 or config.feature_matching_weight > 0):
        discriminator = (
            MultiScaleDiscriminator(
                config.discriminator_scales,
                config.discriminator_channels,
                config.discriminator_blocks,
                config.spectral_norm,
            )
            .to(device)
            .train()
        )
        optimizers["discriminator"] = torch.optim.Adam(
            discriminator.parameters(), lr=config.lr, betas=config.betas
        )
    return Trainer(
        model=model,
        objective=wrap(objective, context, device),
        discriminator=discriminator,
        discriminator_step=wrap(discriminator, context, device) if discriminator is not None else None,
        optimizers=optimizers,
        config=config,
        device=device,
    )


# -- output: logs, samples, progress ------------------------------------------------------


def sample_grid(model: ImplicitWarping, batch: Batch) -> np.ndarray:
    """A picture of the model at work: one column per sample, rows: sources..., driving, output.

    The preview batch holds two training samples then two of the test split (unseen identities)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        output = model(batch.sources, batch.driving).image.float().clamp(0, 1)  # (b, 3, H, W)
    model.train(was_training)
    rows = [*batch.sources.unbind(1), batch.driving, output]  # each (b, 3, H, W)
    grid = torch.stack(rows)  # (rows, b, 3, H, W)
    grid = torch.nn.functional.pad(grid, (1, 1, 1, 1), value=1.0)  # a white line between tiles
    grid = grid.permute(0, 3, 1, 4, 2).flatten(2, 3).flatten(0, 1)  # (rows*H', b*W', 3)
    return (grid.cpu().numpy() * 255).round().astype(np.uint8)


def _logged_step(line: str) -> int | None:
    """The step of a log.jsonl line; None for a blank or broken one (a write cut off by a full disk)."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, TypeError, KeyError):
        return None


class RunLog:
    """RUN_DIR/log.jsonl (one line per logged step) and TensorBoard scalars when installed.
    The writes raise OSError; the loop turns it into a one-line OutputError."""

    def __init__(self, run_dir: Path, resume_step: int, console: Console) -> None:
        self.path = run_dir / "log.jsonl"
        if resume_step and self.path.exists():  # drop lines of work lost since the checkpoint
            lines = self.path.read_text().splitlines()
            kept = [
                line for line in lines if (step := _logged_step(line)) is not None and step <= resume_step
            ]
            self.path.write_text("".join(f"{line}\n" for line in kept))
        elif not resume_step:
            self.path.unlink(missing_ok=True)
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            console.print("[dim]note: tensorboard is not installed; losses go to log.jsonl only[/]")

    def write(self, record: dict) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            for name, value in record["losses"].items():
                self.tensorboard.add_scalar(f"loss/{name}", value, record["step"])
            self.tensorboard.add_scalar("lr", record["lr"], record["step"])
            self.tensorboard.add_scalar("images_per_second", record["images_per_second"], record["step"])

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _batches(dataset: TrainBatches, start: int, stop: int, num_workers: int, pin: bool) -> Iterator[Batch]:
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=range(start, stop), num_workers=num_workers, pin_memory=pin
    )
    yield from loader


def _progress(console: Console, enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=not enabled,
    )


# -- the loop ---------------------------------------------------------------------------


def _device_type(requested: str) -> str:
    """ "cpu" or "cuda" for a --device value, or a one-line error."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device_type = torch.device(requested).type
    except RuntimeError:
        raise InputError(f"unknown device {requested!r}: use auto, cpu, cuda or cuda:N") from None
    if device_type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available to this torch")
    if device_type not in ("cpu", "cuda"):
        raise InputError(f"--device {requested}: training runs on cpu or cuda only")
    return device_type


def train(options: RunOptions) -> TrainResult:
    """Train (or resume) a run in options.run_dir. Works under torchrun as well.

    Schedulers (SLURM, Kubernetes, torchrun) send SIGTERM before they kill a job: it is Ctrl-C
    here, so the last completed step is checkpointed before the process ends."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    context = init_distributed(_device_type(options.device))
    try:
        with sigterm_as_interrupt():
            return _train(options, context, console)
    finally:
        shutdown(context)


class _StopRequest:
    """The SIGINT/SIGTERM handler of the step loop: the first signal asks the loop to stop after
    the step under way (see `_Loop.run`); a second one stops at once."""

    def __init__(self, announce: bool) -> None:
        self.requested = False
        self.announce = announce

    def __call__(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:  # os.write: no console lock or buffer is touched inside a signal handler
            note = "stopping after this step, with a checkpoint (Ctrl-C again: stop now, no checkpoint)\n"
            with contextlib.suppress(OSError):
                os.write(2, note.encode())


@contextlib.contextmanager
def _stop_between_steps(announce: bool) -> Iterator[_StopRequest]:
    """Within the block, Ctrl-C and SIGTERM set `requested` instead of raising mid-step."""
    request = _StopRequest(announce)
    if threading.current_thread() is not threading.main_thread():  # signals go to the main thread
        yield request
        return
    previous = {
        number: signal.signal(number, request)
        for number in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(number) is not signal.SIG_IGN  # e.g. SIGINT of a background job (nohup, &)
    }
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def seed_step(seed: int, step: int, rank: int) -> None:
    """Reseed every global RNG (torch CPU and CUDA, numpy, random) for one step: whatever draws
    from them (source dropout, warps) is then a function of (seed, step, rank), wherever the
    run was stopped and resumed."""
    value = step_seed(seed, step, rank)
    torch.manual_seed(value)
    np.random.seed(value % 2**32)
    random.seed(value)


def _train(options: RunOptions, context: DistributedContext, console: Console) -> TrainResult:
    config = options.train_config
    device = process_device(options.device, context)
    start_step = check_run_dir(options)
    min_frames = config.max_sources + 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        size = options.model_config.image_size
        store = ClipStore(list_clips(options.data_dir, "train"), size, min_frames, options.cache_clips)
        try:
            preview_store = ClipStore(list_clips(options.data_dir, "test"), size, min_frames)
        except InputError:
            preview_store = store
    if context.is_main:
        for warning in caught:
            console.print(f"[yellow]warning:[/] {warning.message}")
    trainer = build_trainer(options, context, device, console)
    if options.resume and start_step:
        load_checkpoint(options.run_dir / "checkpoints", start_step, trainer.parts)
    if context.is_main:
        _write_run_file(options)
    barrier(context)
    dataset = TrainBatches(
        store,
        config.batch_size,
        config.max_sources,
        config.seed,
        context.rank,
        config.flip_probability,
        config.jitter,
        config.still_probability,
    )
    preview = _preview_batch(store, preview_store, config).to(device)
    loop = _Loop(options, context, trainer, preview, console, start_step)
    return loop.run(_batches(dataset, start_step, config.steps, options.num_workers, device.type == "cuda"))


def _preview_batch(train_store: ClipStore, test_store: ClipStore, config: TrainConfig) -> Batch:
    """Two training samples, then two held-out ones (when there is a test split): the grid's columns."""
    parts = [fixed_batch(store, 2, config.max_sources, config.seed) for store in (train_store, test_store)]
    return Batch(torch.cat([p.sources for p in parts]), torch.cat([p.driving for p in parts]))


class _Loop:
    """Steps, logging, samples and checkpoints of one process."""

    def __init__(
        self,
        options: RunOptions,
        context: DistributedContext,
        trainer: Trainer,
        preview: Batch,
        console: Console,
        start_step: int,
    ) -> None:
        self.options, self.context, self.trainer, self.preview = options, context, trainer, preview
        self.console = console
        self.step = start_step
        self.saved_step = start_step if options.resume else -1
        self.in_step = False  # between the first change of a step and the count that marks it done
        self.log = None
        if context.is_main:
            with self._writing(options.run_dir / "log.jsonl"):
                self.log = RunLog(options.run_dir, start_step, console)
        self.metadata = {"train_config": options.train_config.to_json()}
        self._sums: dict[str, float] = {}
        self._count = 0
        self._interval_start = time.perf_counter()
        self.last_losses: dict[str, float] = {}

    def run(self, batches: Iterator[Batch]) -> TrainResult:
        config = self.options.train_config
        is_main = self.context.is_main
        with (
            _progress(self.console, is_main and self.options.progress) as progress,
            _stop_between_steps(announce=is_main) as stop,
        ):
            task = progress.add_task("train", total=config.steps, completed=self.step, info="")
            try:
                for batch in batches:
                    self.in_step = True
                    seed_step(config.seed, self.step, self.context.rank)  # dropout, warps
                    losses = self.trainer.step(batch.to(self.trainer.device), self.step)
                    self.step += 1
                    self.in_step = False
                    self._after_step(losses, progress, task)
                    if self.options.on_step is not None:
                        self.options.on_step(self.step)
                    if any_rank(stop.requested, self.context, self.trainer.device):  # all ranks stop here
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                self._save_on_interrupt()
                raise
        model_path = self._finish()
        return TrainResult(self.step, model_path, self.last_losses, self.trainer.model)

    def _save_on_interrupt(self) -> None:
        """Checkpoint the last completed step, unless the interrupt came within a step: its
        half-applied updates would make the resumed run differ from an uninterrupted one."""
        if not self.context.is_main:
            return
        if self.in_step:
            newest = (
                f"the newest is at step {self.saved_step}" if self.saved_step > 0 else "none was saved yet"
            )
            self.console.print(f"stopped within step {self.step + 1}: no checkpoint written ({newest})")
        elif self.step > 0:
            if self.step != self.saved_step:
                self._checkpoint()
            self.console.print(f"saved a checkpoint at step {self.step}")

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """A failed write of a log line, a sample grid: one OutputError line; checkpoints stay."""
        try:
            yield
        except OSError as error:
            kept = (
                f"the checkpoint of step {self.saved_step} is kept"
                if self.saved_step > 0
                else "no checkpoint yet"
            )
            raise OutputError(
                f"{path}: could not be written ({reason(error)}); training stopped, {kept}"
            ) from None

    def _after_step(self, losses: dict[str, float], progress, task) -> None:
        self.last_losses = losses
        for name, value in losses.items():
            self._sums[name] = self._sums.get(name, 0.0) + value
        self._count += 1
        options = self.options
        if not self.context.is_main:
            return
        if self.step % options.log_every == 0 or self.step == options.train_config.steps:
            self._write_log(progress, task)
        else:
            progress.update(task, completed=self.step)
        if options.sample_every and self.step % options.sample_every == 0:
            self._write_samples()
        if options.checkpoint_every and self.step % options.checkpoint_every == 0:
            self._checkpoint()

    def _write_log(self, progress, task) -> None:
        elapsed = time.perf_counter() - self._interval_start
        images = self._count * self.options.train_config.batch_size * self.context.world_size
        means = {name: total / self._count for name, total in self._sums.items()}
        record = {
            "step": self.step,
            "losses": {name: round(value, 6) for name, value in means.items()},
            "lr": learning_rate(self.options.train_config, self.step - 1),
            "images_per_second": round(images / max(elapsed, 1e-9), 3),
            "time": round(time.time(), 3),
        }
        assert self.log is not None
        with self._writing(self.log.path):
            self.log.write(record)
        info = (
            f"loss {means['total']:.4f}  pyr {means['pyramid']:.4f}  {record['images_per_second']:.1f} img/s"
        )
        progress.update(task, completed=self.step, info=info)
        self._sums, self._count, self._interval_start = {}, 0, time.perf_counter()

    def _write_samples(self) -> None:
        """samples/step_SSSSSS.png, through a temporary file: a full disk leaves no broken image."""
        path = self.options.run_dir / "samples" / f"step_{self.step:06d}.png"
        grid = sample_grid(self.trainer.model, self.preview)
        temporary = path.with_name(f".{path.stem}.partial-{os.getpid()}.png")
        with self._writing(path):
            try:
                path.parent.mkdir(exist_ok=True)
                save_image(temporary, grid)
                os.replace(temporary, path)
            finally:
                with contextlib.suppress(OSError):
                    temporary.unlink(missing_ok=True)

    def _checkpoint(self) -> Path:
        checkpoint_dir = self.options.run_dir / "checkpoints"
        model_path = save_checkpoint(checkpoint_dir, self.step, self.trainer.parts, self.metadata)
        prune_checkpoints(checkpoint_dir, self.options.keep)
        from tiwcli.checkpoint import save_model

        save_model(
            self.options.run_dir / "model.safetensors",
            self.trainer.model,
            {**self.metadata, "step": str(self.step)},
        )
        self.saved_step = self.step
        return model_path

    def _finish(self) -> Path:
        if self.context.is_main:
            if self.step != self.saved_step:
                self._checkpoint()
            if self.options.sample_every:
                self._write_samples()
            assert self.log is not None
            self.log.close()
        barrier(self.context)
        return self.options.run_dir / "model.safetensors"
