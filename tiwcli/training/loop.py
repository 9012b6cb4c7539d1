"""The training loop: self-supervised reconstruction of a driving frame from 1..N sources.


Choices the paper leaves open, and ours (the step itself: trainer.py):
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
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape

from tiwcli.config import TrainConfig
from tiwcli.dataset.layout import landmarks_path, list_clips
from tiwcli.errors import InputError, OutputError
from tiwcli.io.files import reason, sigterm_as_interrupt
from tiwcli.io.images import save_image
from tiwcli.runtime import resolve_device
from tiwcli.training.data import Batch, ClipStore, TrainBatches, fixed_batch
from tiwcli.training.distributed import DistributedContext, any_rank, barrier, init_distributed, shutdown
from tiwcli.training.run import (
    CHECKPOINTS_DIR,
    LOG_FILE,
    MODEL_FILE,
    SAMPLES_DIR,
    RunOptions,
    TrainResult,
    check_run_dir,
    write_run_file,
)
from tiwcli.training.run_log import RunLog, sample_grid
from tiwcli.training.state import load_newest_checkpoint, prune_checkpoints, save_checkpoint
from tiwcli.training.trainer import Trainer, build_trainer, learning_rate, seed_step

# -- output: progress ------------------------------------------------------------------


def _ignore_stop_signals(_worker: int) -> None:
    """Data workers leave Ctrl-C and SIGTERM to the main process. Both reach the whole process
    group (a terminal's Ctrl-C, `timeout`, schedulers); a worker killed by one would make the step
    loop fail instead of finishing its step and checkpointing. Workers still end with the main
    process (their end-of-data sentinel, or torch's parent watchdog)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _batches(dataset: TrainBatches, start: int, stop: int, num_workers: int, pin: bool) -> Iterator[Batch]:
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=range(start, stop),
        num_workers=num_workers,
        pin_memory=pin,
        worker_init_fn=_ignore_stop_signals if num_workers else None,
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


def train(options: RunOptions) -> TrainResult:
    """Train (or resume) a run in options.run_dir. Works under torchrun as well.

    Schedulers (SLURM, Kubernetes, torchrun) send SIGTERM before they kill a job: it is Ctrl-C
    here, so the last completed step is checkpointed before the process ends."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    context = init_distributed(resolve_device(options.device).type)
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


def _check_landmarks(options: RunOptions, console: Console | None) -> None:
    """A model that reads face landmarks is not trained silently without them: no clip with its
    `.landmarks.npy` is an error, some clips without one a note."""
    if not options.model_config.uses_landmarks:
        return
    clips = list_clips(options.data_dir, "train")
    missing = [clip for clip in clips if not landmarks_path(clip).exists()]
    if len(missing) == len(clips):
        raise InputError(
            f"{options.data_dir}: no train clip has its .landmarks.npy, which this model's landmark "
            "prior and guidance need; make the dataset with `tiw preprocess` (it writes them), or "
            "choose a --preset without landmarks (tiny, small-256, base-256, warp-256)"
        )
    if missing and console is not None:
        console.print(
            f"[yellow]note:[/] {len(missing)} of {len(clips)} train clips have no .landmarks.npy "
            f"(e.g. {escape(missing[0].name)}): they train without landmark guidance",
            soft_wrap=True,
        )


def _train(options: RunOptions, context: DistributedContext, console: Console) -> TrainResult:
    config = options.train_config
    device = resolve_device(options.device, local_rank=context.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    start_step = check_run_dir(options)
    _check_landmarks(options, console if context.is_main else None)
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

        def note(message: str) -> None:
            if context.is_main:
                console.print(f"[yellow]note:[/] {escape(message)}", soft_wrap=True)

        start_step = load_newest_checkpoint(options.run_dir / CHECKPOINTS_DIR, trainer.parts, note)
    if context.is_main:
        write_run_file(options)
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
        config.mouth_pair_probability,
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
            with self._writing(options.run_dir / LOG_FILE):
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
        path = self.options.run_dir / SAMPLES_DIR / f"step_{self.step:06d}.png"
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
        checkpoint_dir = self.options.run_dir / CHECKPOINTS_DIR
        model_path = save_checkpoint(checkpoint_dir, self.step, self.trainer.parts, self.metadata)
        prune_checkpoints(checkpoint_dir, self.options.keep)
        from tiwcli.checkpoint import save_model

        save_model(
            self.options.run_dir / MODEL_FILE,
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
        return self.options.run_dir / MODEL_FILE
