"""Training: learning, exact resume, Ctrl-C, run folders, the CLI, and 2-process DDP (tiny preset, CPU)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tiwcli.checkpoint import load_model, load_tensors
from tiwcli.cli import app
from tiwcli.config import TrainConfig, model_preset, train_preset
from tiwcli.dataset.layout import list_clips
from tiwcli.errors import InputError
from tiwcli.training.data import ClipStore, fixed_batch
from tiwcli.training.distributed import DistributedContext
from tiwcli.training.loop import train
from tiwcli.training.run import RunOptions
from tiwcli.training.trainer import build_trainer, learning_rate

REPO = Path(__file__).resolve().parent.parent.parent


def _options(data: Path, run_dir: Path, steps: int = 6, **overrides) -> RunOptions:
    config = dataclasses.replace(train_preset("tiny"), steps=steps, batch_size=2, max_sources=2)
    settings = {"checkpoint_every": 3, "sample_every": 0, "log_every": 1, "progress": False, **overrides}
    return RunOptions(
        data_dir=data, run_dir=run_dir, model_config=model_preset("tiny"), train_config=config, **settings
    )


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(steps=1000, lr=1e-3, warmup_steps=100, min_lr_ratio=0.1)
    assert learning_rate(config, 0) == pytest.approx(1e-5)
    assert learning_rate(config, 99) == pytest.approx(1e-3)
    assert learning_rate(config, 550) < 1e-3
    assert learning_rate(config, 1000) == pytest.approx(1e-4)


def test_steps_on_a_fixed_batch_lower_the_loss(sample_dataset):
    """Overfit check: 30 steps on one batch cut the reconstruction loss clearly."""
    options = _options(sample_dataset, Path("unused"), steps=30)
    options.train_config = dataclasses.replace(options.train_config, warmup_steps=0, lr=2e-3)
    trainer = build_trainer(options, DistributedContext(), torch.device("cpu"))
    store = ClipStore(list_clips(sample_dataset, "train"), 64, min_frames=3)
    batch = fixed_batch(store, batch_size=2, num_sources=2)
    torch.manual_seed(0)
    first = trainer.step(batch, 0)["pyramid"]
    for step in range(1, 30):
        last = trainer.step(batch, step)["pyramid"]
    assert last < 0.6 * first, (first, last)


def test_resume_after_a_kill_equals_an_uninterrupted_run(sample_dataset, tmp_path):
    train(_options(sample_dataset, tmp_path / "straight"))

    class KilledError(Exception):
        pass

    def kill_at_five(step: int) -> None:
        if step == 5:  # a checkpoint exists at 3: steps 4 and 5 are lost
            raise KilledError

    with pytest.raises(KilledError):
        train(_options(sample_dataset, tmp_path / "killed", on_step=kill_at_five))
    train(_options(sample_dataset, tmp_path / "killed", resume=True))
    for name in ("model.safetensors", "checkpoints/step_00000006.state.safetensors"):
        straight, _ = load_tensors(tmp_path / "straight" / name)
        resumed, _ = load_tensors(tmp_path / "killed" / name)
        assert straight.keys() == resumed.keys()
        assert all(torch.equal(straight[key], resumed[key]) for key in straight), name
    steps = [
        json.loads(line)["step"] for line in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()
    ]
    assert steps == [1, 2, 3, 4, 5, 6]  # lost steps are logged once, after the resume


def test_ctrl_c_saves_a_checkpoint(sample_dataset, tmp_path):
    def interrupt(step: int) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_options(sample_dataset, tmp_path, on_step=interrupt))
    assert (tmp_path / "checkpoints" / "step_00000002.state.safetensors").exists()
    assert load_model(tmp_path / "model.safetensors").config == model_preset("tiny")


def test_run_folders_are_never_overwritten(sample_dataset, tmp_path):
    train(_options(sample_dataset, tmp_path, steps=1))
    with pytest.raises(InputError, match="--resume"):
        train(_options(sample_dataset, tmp_path, steps=1))
    with pytest.raises(InputError, match="no training run"):
        train(_options(sample_dataset, tmp_path / "new", steps=1, resume=True))


def test_checkpoints_keep_only_the_newest(sample_dataset, tmp_path):
    train(_options(sample_dataset, tmp_path, steps=7, keep=2, checkpoint_every=2))
    names = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert names == [
        "step_00000006.safetensors",
        "step_00000006.state.safetensors",
        "step_00000007.safetensors",
        "step_00000007.state.safetensors",
    ]


def test_cli_trains_and_writes_everything(sample_dataset, tmp_path):
    run_dir = tmp_path / "run"
    arguments = ["train", "--data", str(sample_dataset), "--out", str(run_dir), "--preset", "tiny"]
    arguments += [
        "--steps",
        "4",
        "--batch-size",
        "2",
        "--sample-every",
        "2",
        "--log-every",
        "2",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    model = load_model(run_dir / "model.safetensors")
    assert model.config == model_preset("tiny")
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert {"pyramid", "total", "lr", "images_per_second"} <= set(records[0]["losses"]) | set(records[0])
    assert (run_dir / "samples" / "step_000002.png").exists()
    resumed = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(sample_dataset),
            "--out",
            str(run_dir),
            "--resume",
            "--steps",
            "5",
            "--no-progress",
        ],
    )
    assert resumed.exit_code == 0, resumed.output
    assert "trained to step 5" in resumed.output


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty", "no train clips"),
        ("garbage", "no usable clips"),
        ("short", "fewer than the 101 needed"),
        ("device", "unknown device"),
    ],
)
def test_cli_rejects_bad_data(sample_dataset, tmp_path, setup, message):
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    extra: list[str] = []
    if setup == "garbage":
        (data / "train" / "broken.mp4").write_bytes(b"not a video at all")
    if setup == "short":
        shutil.copytree(sample_dataset / "train", data / "train", dirs_exist_ok=True)
        extra = ["--max-sources", "100"]
    if setup == "device":
        extra = ["--device", "gpu"]
    arguments = [
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--preset",
        "tiny",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, arguments + extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_unreadable_clips_are_skipped_when_others_are_fine(sample_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(sample_dataset, data)
    (data / "train" / "broken.mp4").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="broken.mp4"):
        store = ClipStore(list_clips(data, "train"), 64, min_frames=3)
    assert len(store) == len(list_clips(sample_dataset, "train"))


_DDP_WORKER = textwrap.dedent(
    """
    import dataclasses, os, sys, hashlib
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from tiwcli.config import model_preset, train_preset
    from tiwcli.training.run import RunOptions
    from tiwcli.training.loop import train

    data, run_dir, out = map(Path, sys.argv[1:4])
    config = dataclasses.replace(train_preset("tiny"), steps=3, batch_size=1, max_sources=2)
    result = train(RunOptions(data_dir=data, run_dir=run_dir, model_config=model_preset("tiny"),
                              train_config=config, sample_every=0, progress=False))
    digest = hashlib.sha256()
    for name, tensor in sorted(result.model.state_dict().items()):
        digest.update(name.encode()); digest.update(tensor.detach().cpu().numpy().tobytes())
    (out / f"rank{os.environ['RANK']}.txt").write_text(digest.hexdigest())
    """
)


def test_two_process_ddp_run_keeps_ranks_identical(sample_dataset, tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(_DDP_WORKER)
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    command = [*torchrun, "--standalone", "--nproc-per-node", "2", str(worker)]
    command += [str(sample_dataset), str(tmp_path / "run"), str(tmp_path)]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert completed.returncode == 0, completed.stderr[-3000:]
    hashes = [(tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)]
    assert hashes[0] == hashes[1]
    assert (tmp_path / "run" / "model.safetensors").exists()  # rank 0 wrote the files


def test_init_starts_from_given_weights(sample_dataset, tmp_path):
    first = train(_options(sample_dataset, tmp_path / "first", steps=2))
    options = _options(sample_dataset, tmp_path / "second", steps=1, init=first.model_path)
    options.train_config = dataclasses.replace(options.train_config, lr=0.0)  # no update: weights stay
    second = train(options)
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name


def test_tensorboard_gets_scalars_when_installed(sample_dataset, tmp_path, monkeypatch):
    scalars: list[tuple[str, float, int]] = []

    class FakeWriter:
        def __init__(self, folder: str) -> None:
            self.folder = folder

        def add_scalar(self, name: str, value: float, step: int) -> None:
            scalars.append((name, value, step))

        def close(self) -> None:
            pass

    fake = type(sys)("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    train(_options(sample_dataset, tmp_path, steps=2))
    assert ("loss/pyramid", pytest.approx(scalars[0][1]), 1) in scalars
    assert {name for name, _, _ in scalars} >= {"loss/total", "lr", "images_per_second"}


def test_worker_processes_give_the_same_batches(sample_dataset):
    from tiwcli.training.data import TrainBatches
    from tiwcli.training.loop import _batches

    store = ClipStore(list_clips(sample_dataset, "train"), 64, min_frames=3)
    dataset = TrainBatches(store, batch_size=2, max_sources=2)
    loaded = list(_batches(dataset, 3, 5, num_workers=1, pin=False))
    assert len(loaded) == 2
    assert torch.equal(loaded[0].driving, dataset[3].driving) and torch.equal(
        loaded[1].sources, dataset[4].sources
    )


def test_pruning_removes_model_files_orphaned_by_a_crash(tmp_path):
    from tiwcli.training.state import checkpoint_paths, prune_checkpoints

    for step in (1, 2, 3, 4):
        for path in checkpoint_paths(tmp_path, step):
            if not (step == 2 and path.name.endswith(".state.safetensors")):  # step 2 crashed midway
                path.write_bytes(b"x")
    prune_checkpoints(tmp_path, keep=2)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "step_00000003.safetensors",
        "step_00000003.state.safetensors",
        "step_00000004.safetensors",
        "step_00000004.state.safetensors",
    ]


@pytest.mark.parametrize("workers", [0, 1])
def test_sigterm_saves_a_checkpoint_like_ctrl_c(sample_dataset, tmp_path, workers):
    """A scheduler's SIGTERM (SLURM, Kubernetes) must not lose the steps since the last checkpoint.
    It is sent to the whole process group, as `timeout` and a terminal's Ctrl-C do: data workers
    must not die of it and fail the step loop."""
    import os
    import signal
    import time

    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "tiwcli", "train", "--data", str(sample_dataset), "--out", str(run_dir),
        "--preset", "tiny", "--steps", "100000", "--batch-size", "2", "--checkpoint-every", "100000",
        "--log-every", "1", "--sample-every", "0", "--device", "cpu", "--num-workers", str(workers),
    ]  # fmt: skip
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    log = run_dir / "log.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    logged = len(log.read_text().splitlines()) if log.exists() else 0
    os.killpg(child.pid, signal.SIGTERM)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    saved = sorted((run_dir / "checkpoints").glob("step_*.state.safetensors"))
    assert saved, stderr
    saved_step = int(saved[-1].name.split("_")[1].split(".")[0])
    assert saved_step >= max(logged, 1)
    # the step under way was finished, logged, then saved: log and checkpoint agree
    assert json.loads(log.read_text().splitlines()[-1])["step"] == saved_step


@pytest.mark.parametrize("output", ["log", "samples"])
def test_a_failed_log_or_sample_write_is_one_output_error(sample_dataset, tmp_path, monkeypatch, output):
    """A full disk between checkpoints: one line (OutputError), the checkpoints already saved kept,
    no half-written sample image."""
    import errno

    from tiwcli.errors import OutputError
    from tiwcli.training.loop import RunLog

    steps_done: list[int] = []

    def full() -> None:  # the disk fills up after step 3 (the checkpoint of step 2 is on disk)
        if steps_done and steps_done[-1] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")

    if output == "log":
        original_write = RunLog.write
        monkeypatch.setattr(RunLog, "write", lambda self, record: (full(), original_write(self, record)))
    else:
        import tiwcli.training.loop

        original_save = tiwcli.training.loop.save_image
        monkeypatch.setattr(
            tiwcli.training.loop, "save_image", lambda path, image: (full(), original_save(path, image))
        )
    options = _options(
        sample_dataset, tmp_path, steps=4, checkpoint_every=2, sample_every=1, on_step=steps_done.append
    )
    with pytest.raises(OutputError) as caught:
        train(options)
    message = str(caught.value)
    assert "No space left on device" in message and "\n" not in message
    assert "the checkpoint of step 2 is kept" in message
    assert (tmp_path / "checkpoints" / "step_00000002.state.safetensors").exists()
    assert not [path for path in (tmp_path / "samples").iterdir() if path.name.startswith(".")]


def test_cli_mouth_options_reach_the_run(sample_dataset, tmp_path):
    run_dir = tmp_path / "run"
    arguments = ["train", "--data", str(sample_dataset), "--out", str(run_dir), "--preset", "tiny"]
    arguments += ["--steps", "2", "--batch-size", "2", "--log-every", "1", "--no-progress"]
    arguments += ["--mouth-pair-probability", "0.5", "--mouth-weight", "5"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    config = json.loads(json.loads((run_dir / "run.json").read_text())["train_config"])
    assert config["mouth_pair_probability"] == 0.5 and config["mouth_weight"] == 5.0
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert all(record["losses"]["mouth"] > 0 for record in records)
    bad = CliRunner().invoke(app, [*arguments[:-4], "--mouth-pair-probability", "1.5"])
    assert bad.exit_code == 2  # a usage error, before any training


def test_mouth_gan_weight_trains_with_the_gan_and_is_refused_without_it(sample_dataset, tmp_path):
    """`tiw train --mouth-gan-weight`: with the GAN the log has the mouth's GAN loss every step; without
    the discriminator (--no-gan) it is a one-line error before any training."""
    run_dir = tmp_path / "run"
    arguments = ["train", "--data", str(sample_dataset), "--out", str(run_dir), "--preset", "tiny"]
    arguments += ["--steps", "2", "--batch-size", "2", "--log-every", "1", "--no-progress"]
    result = CliRunner().invoke(app, [*arguments, "--gan", "--mouth-gan-weight", "0.5"])
    assert result.exit_code == 0, result.output
    config = json.loads(json.loads((run_dir / "run.json").read_text())["train_config"])
    assert config["mouth_gan_weight"] == 0.5
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert records and all("mouth_gan" in record["losses"] for record in records)
    arguments[4] = str(tmp_path / "other")
    refused = CliRunner().invoke(app, [*arguments, "--no-gan", "--mouth-gan-weight", "0.5"])
    assert refused.exit_code != 0 and "--mouth-gan-weight" in refused.output
    assert not (tmp_path / "other" / "checkpoints").exists()
