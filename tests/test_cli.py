from typer.testing import CliRunner

from tiwcli.cli import app

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("animate", "preprocess", "train", "eval", "bench"):
        assert command in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("tiw ")


def test_errors_with_brackets_are_printed_whole():
    result = runner.invoke(app, ["bench", "--sources", "x[1]"])
    assert result.exit_code == 2
    assert "x[1]" in result.output
    assert "Traceback" not in result.output
