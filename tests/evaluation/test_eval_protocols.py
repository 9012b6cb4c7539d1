"""`tiw eval`: cross-identity pairs different PEOPLE (not just different clips), --pred/--real
refuses frames of another framing, FID/KID on few frames come with a warning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tiwcli.cli import app
from tiwcli.errors import InputError
from tiwcli.evaluation.metrics import MetricValue
from tiwcli.evaluation.people import clip_people
from tiwcli.evaluation.protocols import _clip_pairs, _few_fid_frames_warning
from tiwcli.evaluation.report import EvalSettings, Row
from tiwcli.faces.backends import load_face_analyzer
from tiwcli.io.frames import resize_frames
from tiwcli.io.video import VideoWriter, read_all_frames
from tiwcli.samples import sample_file

runner = CliRunner()
CROSS = EvalSettings(metrics=("aed",), cross_identity=True)


def write_clip(path: Path, frames: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, 25, crf=12) as writer:
        writer.write_batch(frames)
    return path


def blank_dataset(root: Path, sources: list[str]) -> list[Path]:
    """Clips named like `tiw preprocess` names them, with a manifest naming their source videos."""
    clips, records = [], []
    for index, source in enumerate(sources):
        relative = f"test/clip{index}_0123abcd_{index:03d}.mp4"
        clips.append(write_clip(root / relative, np.full((2, 16, 16, 3), 10 * index, np.uint8)))
        records.append({"file": relative, "source": source, "split": "test"})
    (root / "manifest.json").write_text(json.dumps({"clips": records}))
    return clips


def test_clips_of_one_source_video_are_never_paired(tmp_path):
    sources = ["/raw/anna.mp4", "/raw/anna.mp4", "/raw/anna.mp4", "/raw/ben.mp4", "/raw/ben.mp4"]
    clips = blank_dataset(tmp_path, sources)
    people = clip_people(clips)
    assert people == sources
    for seed in range(20):
        pairs = _clip_pairs(
            len(clips), EvalSettings(metrics=("aed",), cross_identity=True, seed=seed), people
        )
        assert [source for source, _ in pairs] == list(range(len(clips)))
        assert all(sources[source] != sources[driving] for source, driving in pairs), pairs


def test_a_manifest_person_field_wins_over_the_source(tmp_path):
    clips = blank_dataset(tmp_path, ["/raw/a.mp4", "/raw/b.mp4"])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for record in manifest["clips"]:
        record["person"] = "the same man"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert clip_people(clips) == ["the same man", "the same man"]
    with pytest.raises(InputError, match="at least 2 different people"):
        _clip_pairs(2, CROSS, clip_people(clips))


def test_without_a_manifest_the_clip_names_give_the_source(tmp_path):
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    names = ["talk_0123abcd_000", "talk_0123abcd_001", "other_89abcdef_000", "loose-file"]
    clips = [write_clip(tmp_path / "test" / f"{name}.mp4", frames) for name in names]
    assert clip_people(clips) == ["talk", "talk", "other", "loose-file"]


def first_frames(name: str, count: int = 3, side: int = 320) -> np.ndarray:
    frames = read_all_frames(sample_file(name), max_frames=count)
    height = round(side * frames.shape[1] / frames.shape[2]) // 2 * 2
    return resize_frames(frames, height, side)


def test_videos_of_the_same_face_are_one_person(tmp_path):
    """Two webcam videos of one man, and another man: the face embedding joins the first two."""
    clips = [
        write_clip(tmp_path / "test" / "face_noface_00000000_000.mp4", first_frames("face_noface.mov")),
        write_clip(tmp_path / "test" / "single_face_11111111_000.mp4", first_frames("single_face.mp4")),
        write_clip(tmp_path / "test" / "carphone_22222222_000.mp4", first_frames("carphone_pristine.mp4")),
    ]
    people = clip_people(clips, load_face_analyzer("dlib"))
    assert people[0] == people[1] != people[2]
    pairs = _clip_pairs(3, CROSS, people)
    assert pairs[0][1] == 2 and pairs[1][1] == 2 and pairs[2][1] in (0, 1)


def test_cli_cross_identity_on_the_sample_train_split(sample_dataset, tmp_path):
    """The sample train split holds one woman (1 video) and one man (3 videos): every pair mixes them."""
    report_path = tmp_path / "eval.json"
    arguments = ["eval", "--data", sample_dataset, "--split", "train", "--no-model", "--cross-identity"]
    arguments += ["--metrics", "aed", "--baselines", "copy-source", "--max-frames", "2"]
    result = runner.invoke(app, [*map(str, arguments), "--json", str(report_path)])
    assert result.exit_code == 0, result.output
    pairs = json.loads(report_path.read_text())["settings"]["pairs"]
    assert pairs
    for pair in pairs:
        source, driving = pair.split(" -> ")
        assert ("WolfgangLanger" in source) != ("WolfgangLanger" in driving), pairs


def test_cli_cross_identity_with_one_person_is_one_error_line(sample_dataset):
    arguments = ["eval", "--data", sample_dataset, "--no-model", "--cross-identity", "--metrics", "aed"]
    result = runner.invoke(app, [*map(str, arguments), "--baselines", "copy-source"])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_pred_real_of_another_framing_is_refused(tmp_path, carphone):
    real = read_all_frames(carphone, max_frames=4)  # 176x144
    write_clip(tmp_path / "real" / "clip.mp4", real)
    write_clip(tmp_path / "pred" / "clip.mp4", resize_frames(real, 64, 64))  # a square crop
    arguments = ["eval", "--pred", tmp_path / "pred", "--real", tmp_path / "real", "--metrics", "l1"]
    result = runner.invoke(app, list(map(str, arguments)))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "64x64" in lines[0] and "176x144" in lines[0], result.output


def test_fid_on_few_frames_is_flagged():
    def row(frames: int) -> Row:
        return Row("m", 1, {"fid": MetricValue(12.0, frames), "kid": MetricValue(0.01, frames)})

    assert _few_fid_frames_warning([row(500)]) == []
    (warning,) = _few_fid_frames_warning([row(500), row(4)])
    assert warning.startswith("warning:") and "4 frames" in warning
    assert _few_fid_frames_warning([Row("m", 1, {"fid": MetricValue(None, 0)})]) == []


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory, carphone) -> Path:
    root = tmp_path_factory.mktemp("small")
    frames = resize_frames(read_all_frames(carphone, max_frames=4), 64, 64)
    write_clip(root / "test" / "a.mp4", frames)
    return root


def eval_error_line(arguments: list[object], code: int = 2) -> str:
    result = runner.invoke(app, ["eval", *map(str, arguments)])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


BASELINE_ONLY = ["--no-model", "--baselines", "copy-source", "--metrics", "l1"]


def test_eval_refuses_an_unwritable_json_folder_first(small_dataset, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(
        "tiwcli.evaluation.protocols.evaluate_dataset", lambda *a, **k: pytest.fail("evaluated")
    )
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys"), Path("/proc")):
        try:
            with tempfile.NamedTemporaryFile(dir=candidate):
                pass
        except OSError:
            break
    else:
        pytest.skip("no unwritable folder on this machine")
    line = eval_error_line(["--data", small_dataset, *BASELINE_ONLY, "--json", candidate / "r.json"])
    assert "cannot write there" in line


def test_eval_write_failure_is_one_line_and_leaves_nothing(small_dataset, tmp_path, monkeypatch):
    def full_disk(self, path):
        path.write_text("{")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tiwcli.evaluation.protocols.EvaluationReport.write_json", full_disk)
    line = eval_error_line(["--data", small_dataset, *BASELINE_ONLY, "--json", tmp_path / "r.json"])
    assert "No space left on device" in line
    assert not (tmp_path / "r.json").exists()


def test_eval_missing_weights_before_the_model_loads(small_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr("tiwcli.checkpoint.load_model", lambda *a, **k: pytest.fail("model loaded"))
    line = eval_error_line(["--data", small_dataset, "--weights", tmp_path / "none.safetensors"], code=3)
    assert "no such weights file" in line
