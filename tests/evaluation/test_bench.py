"""`tiw bench` runs and reports; the figures themselves belong in benchmarks, not tests."""

import importlib.util
import json

import pytest
import torch
from typer.testing import CliRunner

from tiwcli.cli import app
from tiwcli.evaluation.bench import SpeedKnobs, machine_state, profile_modules, time_model
from tiwcli.models import ImplicitWarping

needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("onnx", "onnxscript", "onnxruntime")),
    reason="the onnx extra is not installed (pip install 'tiw[onnx]')",
)


def test_bench_reports_latency_throughput_machine_and_end_to_end(tmp_path):
    report = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--presets",
            "tiny",
            "--sources",
            "1,2",
            "--frames",
            "4",
            "--batch-size",
            "2",
            "--clip-frames",
            "8",
            "--long-factor",
            "2",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--json",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert len(data["machine_before"]["load_average"]) == 3
    assert data["machine_before"]["cpu_count"] >= 1
    assert data["machine_before"]["allocator"]  # kept freed memory, or glibc's defaults, said
    assert [row["num_sources"] for row in data["model"]] == [1, 2]
    for row in data["model"]:
        assert row["threads"] == 1
        assert row["latency_ms"] > 0 and row["batched_ms_per_frame"] > 0 and row["gflops_per_frame"] > 0
        assert row["batch_size"] == 2
    # more sources, more attention work
    assert data["model"][1]["gflops_per_frame"] > data["model"][0]["gflops_per_frame"]
    crop_rows = [row for row in data["end_to_end"] if not row["faces"]]
    assert sorted({row["frames"] for row in crop_rows}) == [8, 16]
    assert all(row["peak_rss_mb"] > 50 and row["threads"] == 1 for row in data["end_to_end"])
    # the default face path on the 640x360 clip, with its time split
    (faces_row,) = [row for row in data["end_to_end"] if row["faces"]]
    assert faces_row["frames"] == 8
    assert {"decode", "faces", "crop", "model", "paste", "encode"} <= set(faces_row["split_ms"])
    # set beside the model alone at the same preset, sources, threads and batch
    assert faces_row["model_alone_ms"] == data["model"][0]["batched_ms_per_frame"]
    assert "load average" in result.output and "torch threads" in result.output


def test_channels_last_gives_a_row_and_leaves_the_model_as_it_was(tiny_config):
    model = ImplicitWarping(tiny_config).eval()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    row = time_model(
        model, "tiny", 1, batch_size=2, frames=2, knobs=SpeedKnobs(threads=1, channels_last=True)
    )
    assert row.channels_last and not row.compiled and row.compile_seconds is None
    assert row.latency_ms > 0
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name])
        assert tensor.is_contiguous()


def test_machine_state_reads_threads_and_load():
    state = machine_state()
    assert state.threads >= 1 and state.cpu_count >= 1
    assert len(state.load_average) == 3


@pytest.mark.parametrize(("option", "value"), [("--sources", "0"), ("--threads", "0")])
def test_bench_refuses_bad_counts(option, value):
    result = CliRunner().invoke(app, ["bench", option, value])
    assert result.exit_code == 2
    assert "positive" in result.output


def test_profile_splits_one_frame_between_the_parts_of_the_model(tiny_config):
    model = ImplicitWarping(tiny_config).eval()
    rows = profile_modules(model, "tiny", 2, frames=2, threads=1)
    parts = {row.module for row in rows}
    assert {"keypoint_detector", "warper", "generator", "(outside the parts)"} <= parts
    assert "source_encoder" not in parts  # only runs once per animation, not per frame
    assert sum(row.share for row in rows) == pytest.approx(1.0, abs=1e-6)
    assert all(row.threads == 1 for row in rows)
    generator = next(row for row in rows if row.module == "generator")
    assert generator.gflops_per_frame is not None and generator.gflops_per_frame > 0


def test_a_landmark_model_is_timed_with_landmarks(tiny_config):
    """The landmark prior's spline runs per frame: the timed path must feed landmarks, or it
    would time the cheaper cached locality prior instead."""
    import dataclasses

    config = dataclasses.replace(
        tiny_config, full_resolution_warp=True, locality_sigma=1.0, landmark_flow=True
    )
    model = ImplicitWarping(config).eval()
    given = []
    original = model.animate

    def spy(encoding, keypoints, driving_landmarks=None):
        given.append(driving_landmarks)
        return original(encoding, keypoints, driving_landmarks)

    model.animate = spy
    row = time_model(model, "tiny-landmarks", 2, batch_size=2, frames=2)
    assert row.latency_ms > 0
    assert given and all(landmarks is not None and landmarks.shape[1:] == (68, 2) for landmarks in given)


@pytest.mark.parametrize("where", ["a folder", "a missing folder"])
def test_bench_json_destination_is_checked_before_the_benchmark(tmp_path, monkeypatch, where):
    """D12: --json to a folder or into a missing folder is exit 2 before any timing (before: a
    traceback after the whole benchmark, and its results lost)."""

    def no_benchmark():
        raise AssertionError("the benchmark started before --json was checked")

    monkeypatch.setattr("tiwcli.evaluation.bench.machine_state", no_benchmark)
    target = tmp_path if where == "a folder" else tmp_path / "missing" / "r.json"
    result = CliRunner().invoke(app, ["bench", "--presets", "tiny", "--json", str(target)])
    assert "Traceback" not in result.output and result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --json"), lines


@needs_onnx
def test_bench_times_the_onnx_engine_beside_torch(tmp_path):
    """--engine torch,onnx: a row per engine for the model alone and end to end, the ONNX rows on
    ONNX Runtime (an export of the same weights) and set beside the ONNX model-alone row."""
    report = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        ["bench", "--presets", "tiny", "--sources", "1", "--frames", "2", "--batch-size", "2",
         "--clip-frames", "8", "--long-factor", "2", "--no-faces", "--device", "cpu", "--threads", "1",
         "--engine", "torch,onnx", "--json", str(report)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert [row["engine"] for row in data["model"]] == ["torch", "onnx"]
    torch_row, onnx_row = data["model"]
    assert onnx_row["latency_ms"] > 0 and onnx_row["gflops_per_frame"] == torch_row["gflops_per_frame"]
    onnx_runs = [row for row in data["end_to_end"] if row["engine"] == "onnx"]
    assert len(onnx_runs) == len(data["end_to_end"]) / 2 and all(row["frames"] > 0 for row in onnx_runs)
    assert {row["model_alone_ms"] for row in onnx_runs if row["frames"] == 8} == {
        onnx_row["batched_ms_per_frame"]
    }


@needs_onnx
def test_an_onnx_stand_in_runs_the_same_model(tiny_landmark_config, tmp_path):
    from tiwcli.evaluation.bench import animate_frames, encode, onnx_stand_in

    model = ImplicitWarping(tiny_landmark_config).eval()
    engine = onnx_stand_in(model, tmp_path, threads=1)
    size = tiny_landmark_config.image_size
    sources, driving = torch.rand(1, 2, 3, size, size), torch.rand(1, 3, size, size)
    with torch.inference_mode():
        expected = animate_frames(model, encode(model, sources), driving)
        got = animate_frames(engine, encode(engine, sources), driving)
    assert (got - expected).abs().max() < 1 / 255
    row = time_model(
        model, "tiny", 2, batch_size=2, frames=2, knobs=SpeedKnobs(threads=1, engine="onnx"), engine=engine
    )
    assert row.engine == "onnx" and row.latency_ms > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "tensorrt"], "--engine: expected torch, onnx"),
        (["--engine", ""], "--engine: expected torch, onnx"),
        (["--engine", "onnx", "--compile", "on"], "--engine onnx: --channels-last and --compile"),
    ],
)
def test_bench_refuses_bad_engines_before_timing(args, message, monkeypatch):
    def no_benchmark():
        raise AssertionError("the benchmark started before --engine was checked")

    monkeypatch.setattr("tiwcli.evaluation.bench.machine_state", no_benchmark)
    result = CliRunner().invoke(app, ["bench", "--presets", "tiny", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
