"""The `tiw` entry point (`tiwcli.cli.main`): usage errors are one `error:` line, exit 2."""

from __future__ import annotations

import pytest

from tiwcli.cli import main


def run_main(monkeypatch, capsys, *arguments: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", ["tiw", *arguments])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["animate", "a.jpg", "b.mp4", "-o", "x.mp4", "--num-sources", "0"], "'--num-sources'"),
        (["animate"], "Missing argument"),
        (["bogus"], "No such command 'bogus'"),
        (["train", "--data", "d", "--out", "o", "--steps", "many"], "'--steps'"),
    ],
)
def test_usage_errors_are_one_line(monkeypatch, capsys, arguments, expected):
    code, _, err = run_main(monkeypatch, capsys, *arguments)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], err
    assert "--help" in lines[0]


def test_success_and_help_exit_zero(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "--version")
    assert code == 0 and out.startswith("tiw ")
    code, out, _ = run_main(monkeypatch, capsys, "animate", "--help")
    assert code == 0 and "DRIVING" in out


def test_project_errors_keep_their_exit_code(monkeypatch, capsys, tmp_path):
    code, _, err = run_main(monkeypatch, capsys, "eval", "--data", str(tmp_path / "none"), "--no-model")
    assert code == 2 and err.startswith("error:") and "no such dataset folder" in err


def test_the_entry_point_keeps_freed_memory(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("tiwcli.allocator.keep_freed_memory", lambda: calls.append(True))
    code, _, _ = run_main(monkeypatch, capsys, "--version")
    assert code == 0 and calls == [True]
