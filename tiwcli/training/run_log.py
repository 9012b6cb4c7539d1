"""What a training run writes as it goes: RUN_DIR/log.jsonl (and TensorBoard scalars when installed)
and the sample grid of the model at work (RUN_DIR/samples/).

Shapes: b batch, n sources, H W image size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from tiwcli.models import ImplicitWarping
from tiwcli.training.data import Batch
from tiwcli.training.run import LOG_FILE


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
    except (ValueError, TypeError, KeyError, OverflowError):
        return None


class RunLog:
    """RUN_DIR/log.jsonl (one line per logged step) and TensorBoard scalars when installed.
    The writes raise OSError; the loop turns it into a one-line OutputError."""

    def __init__(self, run_dir: Path, resume_step: int, console: Console) -> None:
        self.path = run_dir / LOG_FILE
        if resume_step and self.path.exists():  # drop lines of work lost since the checkpoint
            lines = self.path.read_text(errors="replace").splitlines()  # a damaged line is dropped
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
