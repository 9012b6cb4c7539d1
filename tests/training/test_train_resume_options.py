"""`tiw train --resume` goes on with the run's own options (--checkpoint-every, --keep, --sample-every,
--log-every, kept in run.json) unless they are given again, and options that contradict the run
are one-line errors instead of being ignored. No training happens here: the run folders are made
by hand and `tiwcli.training.loop.train` is replaced where the options are what is checked."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tiwcli.checkpoint import save_model
from tiwcli.cli import app
from tiwcli.config import model_preset, train_preset
from tiwcli.errors import OutputError
from tiwcli.models import ImplicitWarping
from tiwcli.training.run import SCHEDULE_DEFAULTS, RunOptions, read_run_schedule
from tiwcli.training.run import write_run_file as _write_run_file
from tiwcli.training.state import checkpoint_paths

runner = CliRunner()


def make_run(run_dir: Path, data: Path, completed: int = 0, **schedule: int) -> RunOptions:
    """A run folder as `tiw train --preset tiny` leaves it, with checkpoint files named for step
    `completed` (their contents are not read before the checks under test)."""
    options = RunOptions(
        data_dir=data,
        run_dir=run_dir,
        model_config=model_preset("tiny"),
        train_config=dataclasses.replace(train_preset("tiny"), steps=60),
        **schedule,
    )
    _write_run_file(options)
    if completed:
        (run_dir / "checkpoints").mkdir()
        for path in checkpoint_paths(run_dir / "checkpoints", completed):
            path.write_bytes(b"")
    return options


@pytest.fixture
def captured(monkeypatch) -> list[RunOptions]:
    """The RunOptions `tiw train` would train with (nothing is trained)."""
    seen: list[RunOptions] = []

    def train(options: RunOptions):
        seen.append(options)
        raise KeyboardInterrupt  # stop here: exit 130

    monkeypatch.setattr("tiwcli.training.loop.train", train)
    return seen


def resume(run_dir: Path, data: Path, *extra: object):
    arguments = ["train", "--data", data, "--out", run_dir, "--resume", "--no-progress", *extra]
    result = runner.invoke(app, list(map(str, arguments)))
    assert "Traceback" not in result.output, result.output
    return result


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_resume_keeps_the_runs_schedule(tmp_path, sample_dataset, captured):
    make_run(tmp_path, sample_dataset, checkpoint_every=7, keep=5, sample_every=0, log_every=2)
    assert resume(tmp_path, sample_dataset).exit_code == 130
    assert resume(tmp_path, sample_dataset, "--log-every", "4", "--keep", "1").exit_code == 130
    kept, given = ((o.checkpoint_every, o.keep, o.sample_every, o.log_every) for o in captured)
    assert kept == (7, 5, 0, 2)
    assert given == (7, 1, 0, 4)  # given again: the new value


def test_the_schedule_is_saved_in_run_json(tmp_path, sample_dataset):
    make_run(tmp_path, sample_dataset, checkpoint_every=7, keep=5, sample_every=0, log_every=2)
    assert read_run_schedule(tmp_path) == {
        "checkpoint_every": 7,
        "keep": 5,
        "sample_every": 0,
        "log_every": 2,
    }


def test_runs_from_before_the_schedule_was_saved_resume_with_the_defaults(tmp_path, sample_dataset, captured):
    make_run(tmp_path, sample_dataset)
    run_file = tmp_path / "run.json"
    record = json.loads(run_file.read_text())
    del record["options"]
    run_file.write_text(json.dumps(record))
    assert resume(tmp_path, sample_dataset, "--checkpoint-every", "200").exit_code == 130
    (options,) = captured
    assert options.checkpoint_every == 200
    assert (options.keep, options.sample_every, options.log_every) == tuple(
        SCHEDULE_DEFAULTS[name] for name in ("keep", "sample_every", "log_every")
    )
    assert options.model_config == model_preset("tiny") and options.train_config.steps == 60


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--preset", "small-256"], "--preset small-256: the run in .* was started with --preset tiny"),
        (["--gan"], None),  # the tiny run has the GAN: nothing to contradict
        (["--steps", "3"], "--steps 3: the run in .* has completed 20 steps already"),
        (["--init", "WEIGHTS"], "--init: a resumed run goes on from its own checkpoint"),
    ],
)
def test_options_that_contradict_the_run_are_one_line_errors(
    tmp_path, sample_dataset, tiny_config, monkeypatch, extra, message
):
    import re

    run_dir = tmp_path / "run"
    make_run(run_dir, sample_dataset, completed=20)
    weights = tmp_path / "init.safetensors"
    save_model(weights, ImplicitWarping(tiny_config))
    extra = [str(weights) if value == "WEIGHTS" else value for value in extra]
    if message is None:  # an agreeing option goes through to training (stopped at once here)
        monkeypatch.setattr(
            "tiwcli.training.loop.train", lambda options: (_ for _ in ()).throw(KeyboardInterrupt)
        )
        assert resume(run_dir, sample_dataset, *extra, "--preset", "tiny").exit_code == 130
        return
    result = resume(run_dir, sample_dataset, *extra)
    assert result.exit_code == 2
    assert re.search(message, error_line(result)), result.stderr


def test_gan_cannot_be_added_to_a_run_without_it(tmp_path, sample_dataset):
    options = make_run(tmp_path, sample_dataset)
    options.train_config = dataclasses.replace(
        options.train_config, gan_weight=0.0, feature_matching_weight=0.0
    )
    _write_run_file(options)
    result = resume(tmp_path, sample_dataset, "--gan")
    assert result.exit_code == 2
    assert "--gan: the run" in error_line(result)


def test_init_of_another_preset_than_the_one_given(tmp_path, sample_dataset, tiny_config):
    weights = tmp_path / "init.safetensors"
    save_model(weights, ImplicitWarping(tiny_config))
    arguments = ["train", "--data", sample_dataset, "--out", tmp_path / "run", "--init", weights]
    result = runner.invoke(app, [*map(str, arguments), "--preset", "small-256"])
    assert result.exit_code == 2
    assert "the weights are of preset tiny, not of --preset small-256" in error_line(result)


def test_run_json_write_failure_is_one_output_error(tmp_path, sample_dataset):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=r"run\.json: could not be written"):
        make_run(tmp_path / "file" / "run", sample_dataset)


def test_the_default_preset_is_the_shipped_weights(tmp_path):
    """No --preset: the shipped weights' architecture and recipe (landmark prior, no keypoint
    guidance, no GAN), and an old --init checkpoint keeps its own preset. The shipped file is
    that preset with the full-resolution spline, the motion gate, bicubic sampling, the tighter
    spline ridge, the lips following the spline and the two-band blend of several sources switched
    on (none owns weights; see weights/README.md), and --init from it keeps the switches."""
    from tiwcli.checkpoint import read_model_file, shipped_weights_dirs
    from tiwcli.training.run import resolve_settings

    model_config, train_config, _ = resolve_settings(
        tmp_path, preset=None, resume=False, init=None, overrides={}
    )
    assert model_config == model_preset("landmark-256") and model_config.uses_landmarks
    assert train_config.landmark_weight == 0 and train_config.gan_weight == 0
    shipped_file = (
        next(folder for folder in shipped_weights_dirs() if folder.is_dir()) / "tiw-landmark-256.safetensors"
    )
    shipped, _, _ = read_model_file(shipped_file)
    assert shipped == dataclasses.replace(
        model_config,
        landmark_flow_full_resolution=True,
        motion_gate=0.01,
        warp_interpolation="bicubic",
        landmark_flow_smoothing=0.001,
        mouth_spline=2.5,
        source_detail_power=16.0,
        source_detail_sigma=3.0,
    )
    continued, _, _ = resolve_settings(tmp_path, preset=None, resume=False, init=shipped_file, overrides={})
    assert continued == shipped
    old = ImplicitWarping(model_preset("warp-256"))
    save_model(tmp_path / "old.safetensors", old, {})
    model_config, _, _ = resolve_settings(
        tmp_path, preset=None, resume=False, init=tmp_path / "old.safetensors", overrides={}
    )
    assert model_config == model_preset("warp-256")
