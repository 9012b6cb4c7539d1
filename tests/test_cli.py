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


def test_renamed_flags_keep_their_old_spelling_hidden():
    """One flag name per meaning; each old spelling still works for one release, out of --help."""
    from tiwcli.commands.options import ALIASES

    commands = {name: command for name, command in _click_commands().items()}
    for command_name, renamed in ALIASES.items():
        names = {opt: param for param in commands[command_name].params for opt in param.opts}
        for old, new in renamed.items():
            assert new in names and not names[new].hidden, (command_name, new)
            assert old in names and names[old].hidden, (command_name, old)
        help_text = runner.invoke(app, [command_name, "--help"], terminal_width=200).output
        assert not any(f"{old} " in help_text for old in renamed), help_text


def test_an_old_spelling_still_reaches_the_same_check():
    for old, new in (("--num-sources", "--sources-from-video"),):
        for flag in (old, new):
            result = runner.invoke(app, ["animate", "a.jpg", "b.mp4", "-o", "x.mp4", flag, "0"])
            assert result.exit_code == 2 and flag in result.output


def _click_commands():
    import typer.main

    return typer.main.get_command(app).commands  # type: ignore[attr-defined]
