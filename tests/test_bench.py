"""`tiw bench` runs and reports; the figures themselves belong in benchmarks, not tests."""

import json

from typer.testing import CliRunner

from tiwcli.cli import app


def test_bench_reports_model_and_end_to_end_rows(tmp_path):
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
            "--json",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert [row["num_sources"] for row in data["model"]] == [1, 2]
    assert all(row["ms_per_frame"] > 0 and row["gflops_per_frame"] > 0 for row in data["model"])
    # more sources, more attention work
    assert data["model"][1]["gflops_per_frame"] > data["model"][0]["gflops_per_frame"]
    frames = sorted({row["frames"] for row in data["end_to_end"]})
    assert frames == [8, 16]
    assert all(row["peak_rss_mb"] > 50 for row in data["end_to_end"])


def test_bench_refuses_bad_source_counts():
    result = CliRunner().invoke(app, ["bench", "--sources", "0"])
    assert result.exit_code == 2
    assert "positive" in result.output
