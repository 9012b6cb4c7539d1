"""`tiw train --data DIR --out RUN_DIR`: thin CLI over `tiwcli.training.loop.train`.

Options left unset take the value of the run being resumed (its configs and its
--checkpoint-every, --keep, --sample-every, --log-every), else the training
defaults of the model preset (`TRAIN_PRESETS`); `tiwcli.training.run.resolve_settings`
decides, and refuses options that contradict the run. Multi-GPU / multi-node:
`torchrun --nproc-per-node N -m tiwcli train ...` (each process its own batch).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from tiwcli.commands import options
from tiwcli.config import DEFAULT_TRAIN_PRESET, MODEL_PRESETS
from tiwcli.errors import InputError


def train(
    *,
    data: Annotated[Path, typer.Option(help="Dataset folder written by `tiw preprocess` (train/, test/).")],
    out: Annotated[
        options.OptionalPath,
        typer.Option(
            help="Run folder: checkpoints, samples, log.jsonl, model.safetensors. Default: "
            "runs/DATE-TIME in the current folder (--resume and torchrun need it named).",
            show_default=False,
        ),
    ] = None,
    preset: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            help=f"Model preset: {', '.join(MODEL_PRESETS)} (default: {DEFAULT_TRAIN_PRESET}).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the run in --out from its latest checkpoint, with its preset and options."
        ),
    ] = False,
    init: Annotated[
        options.OptionalPath, typer.Option(help="Start the generator from these weights.")
    ] = None,
    steps: Annotated[options.OptionalInt, typer.Option(help="Total optimiser steps.", min=1)] = None,
    batch_size: Annotated[
        options.OptionalInt, typer.Option(help="Samples per step and process.", min=1)
    ] = None,
    lr: Annotated[options.OptionalFloat, typer.Option(help="Peak learning rate.", min=0.0)] = None,
    sources: Annotated[options.OptionalInt, typer.Option(help="Sources per sample: 1..this.", min=1)] = None,
    checkpoint_every: Annotated[
        options.OptionalInt,
        typer.Option(help="Steps between checkpoints (default 1000; on --resume, the run's).", min=1),
    ] = None,
    keep: Annotated[
        options.OptionalInt,
        typer.Option(help="Newest checkpoints kept (default 3; on --resume, the run's).", min=1),
    ] = None,
    sample_every: Annotated[
        options.OptionalInt,
        typer.Option(
            help="Steps between sample grids, 0 = only at the end (default 500; on --resume, the run's).",
            min=0,
        ),
    ] = None,
    log_every: Annotated[
        options.OptionalInt,
        typer.Option(help="Steps between log lines (default 10; on --resume, the run's).", min=1),
    ] = None,
    device: options.Device = "auto",
    seed: Annotated[options.OptionalInt, typer.Option(help="Seed of every random draw.")] = None,
    num_workers: Annotated[int, typer.Option(help="Data loading processes.", min=0)] = 0,
    gan: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--gan/--no-gan",
            help=(
                "Adversarial + feature matching losses "
                "(default: the preset's; off for warp-256 and landmark-256)."
            ),
            show_default=False,
        ),
    ] = None,
    pyramid_weight: Annotated[
        options.OptionalFloat, typer.Option(help="Weight of the L1 pyramid loss.", min=0.0)
    ] = None,
    perceptual_weight: Annotated[
        options.OptionalFloat, typer.Option(help="Weight of the VGG-19 loss.", min=0.0)
    ] = None,
    equivariance_weight: Annotated[
        options.OptionalFloat, typer.Option(help="Weight of keypoint equivariance.", min=0.0)
    ] = None,
    still_probability: Annotated[
        options.OptionalFloat,
        typer.Option(help="Share of samples made of one frame moved by random warps.", min=0.0, max=1.0),
    ] = None,
    mouth_pair_probability: Annotated[
        options.OptionalFloat,
        typer.Option(
            help="Share of samples whose driving frame opens the mouth wider than every source "
            "(by the stored landmarks).",
            min=0.0,
            max=1.0,
        ),
    ] = None,
    mouth_weight: Annotated[
        options.OptionalFloat,
        typer.Option(help="Weight of the L1 loss on the driving frame's mouth region (0 = off).", min=0.0),
    ] = None,
    mouth_gan_weight: Annotated[
        options.OptionalFloat,
        typer.Option(
            help="Weight of the GAN loss on the mouth (its crop scored by the discriminator; "
            "needs --gan; 0 = off).",
            min=0.0,
        ),
    ] = None,
    warp_only_steps: Annotated[
        options.OptionalInt,
        typer.Option(help="First steps whose output is the full-resolution warp alone.", min=0),
    ] = None,
    landmark_weight: Annotated[
        options.OptionalFloat,
        typer.Option(help="Weight of landmark guidance of keypoints 0..9 (0 = off).", min=0.0),
    ] = None,
    perceptual_network: Annotated[
        Optional[options.PerceptualNetworkChoice],  # type: ignore[valid-type]  # noqa: UP045
        typer.Option(help="vgg19 (torchvision's file, off when absent) or auto (else HED-VGG16)."),
    ] = None,
    vgg_weights: Annotated[
        options.OptionalPath,
        typer.Option(help="VGG-19 file (default: ~/.cache/torch/hub/checkpoints/vgg19-dcbb9e9d.pth)."),
    ] = None,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Hold decoded training clips in memory; --no-cache decodes per sample (big datasets; "
            "use --num-workers).",
        ),
    ] = True,
    progress: options.Progress = True,
    max_sources_old: Annotated[options.OptionalInt, options.hidden("--max-sources", min=1)] = None,
) -> None:
    """Train an Implicit Warping model on a preprocessed face dataset."""
    out = out or _default_run_folder(resume)
    _check_paths(data, out, init, vgg_weights)  # before the slow imports, the data and the model
    from tiwcli.training.loop import train as run_training
    from tiwcli.training.run import RunOptions, resolve_settings

    overrides = {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "max_sources": options.aliased(sources, max_sources_old),
        "seed": seed,
        "pyramid_weight": pyramid_weight,
        "perceptual_weight": perceptual_weight,
        "equivariance_weight": equivariance_weight,
        "still_probability": still_probability,
        "mouth_pair_probability": mouth_pair_probability,
        "mouth_weight": mouth_weight,
        "mouth_gan_weight": mouth_gan_weight,
        "warp_only_steps": warp_only_steps,
        "landmark_weight": landmark_weight,
        "perceptual_network": perceptual_network.value if perceptual_network is not None else None,
    }
    schedule = {
        "checkpoint_every": checkpoint_every,
        "keep": keep,
        "sample_every": sample_every,
        "log_every": log_every,
    }
    model_config, train_config, schedule = resolve_settings(
        out, preset=preset, resume=resume, init=init, overrides=overrides, gan=gan, schedule=schedule
    )
    log_lines = progress and not _stderr_is_terminal() and _is_main()
    result = run_training(
        RunOptions(
            data_dir=data,
            run_dir=out,
            model_config=model_config,
            train_config=train_config,
            resume=resume,
            init=init,
            device=device,
            **schedule,
            num_workers=num_workers,
            cache_clips=cache,
            vgg_path=vgg_weights,
            progress=progress and _stderr_is_terminal(),
            on_step=_log_progress(train_config.steps) if log_lines else None,
        )
    )
    if _is_main():  # under torchrun: once, not once per process
        typer.echo(f"trained to step {result.step}: {result.model_path}")


def _default_run_folder(resume: bool) -> Path:
    """runs/YYYYMMDD-HHMMSS: a new run never lands in an old one's folder."""
    import os
    import time

    if resume:
        raise InputError("--resume needs --out RUN_DIR: the run folder to continue")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError("under torchrun, name the run folder with --out (every process must use the same)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, number = Path("runs") / stamp, 0
    while folder.exists():
        number += 1
        folder = Path("runs") / f"{stamp}.{number}"
    typer.echo(f"training into {folder}", err=True)
    return folder


def _check_paths(data: Path, out: Path, init: Path | None, vgg_weights: Path | None) -> None:
    """The dataset folder, --init and --vgg-weights exist (a typo must not silently train without
    the perceptual loss), and the run folder is (or can be made) a writable folder."""
    from tiwcli.io.files import check_input_files, check_output_folder

    if not data.is_dir():
        raise InputError(f"{data}: no such dataset folder")
    check_input_files([path for path in (init, vgg_weights) if path is not None])
    check_output_folder(out)


def _is_main() -> bool:
    """Rank 0 of a torchrun job, or a plain single process."""
    return os.environ.get("RANK", "0") == "0"


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _log_progress(total_steps: int) -> Callable[[int], None]:
    """For stderr that is not a terminal (a log file, CI, SLURM): a progress line every few seconds
    (a rich bar would show nothing before the end)."""
    from rich.console import Console

    from tiwcli.console import LogProgress

    progress = LogProgress(Console(stderr=True, highlight=False), unit="steps")
    tasks: list[int] = []

    def on_step(step: int) -> None:
        if not tasks:
            tasks.append(progress.add_task("train", total=total_steps, completed=step - 1))
        progress.update(tasks[0], completed=step)

    return on_step
