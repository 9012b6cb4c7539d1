"""The README's and docs' commands hang together: datasets used are built first, the quick training example
checkpoints before it ends, code points only to files in the repository; the robustness table is
kept up (at least 70 bad inputs)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the README's deep sections moved to docs/ (issue 23): their commands are read from there
README = "\n".join(path.read_text() for path in [REPO / "README.md", *sorted(REPO.glob("docs/*.md"))])
COMMANDS = [line for block in re.findall(r"```bash\n(.*?)```", README, re.S) for line in block.splitlines()]


def test_every_dataset_a_command_reads_is_built_by_a_command():
    builder = r"make_(?:sample|training)_dataset\.py (data/[\w-]+)"
    built = {match for line in COMMANDS for match in re.findall(builder, line)}
    built |= {match for line in COMMANDS for match in re.findall(r"tiw preprocess .* (data/[\w-]+)", line)}
    used = {match for line in COMMANDS for match in re.findall(r"--data (data/[\w-]+)", line)}
    assert used and used <= built, used - built


def test_training_examples_checkpoint_before_they_end():
    for line in COMMANDS:
        steps = re.search(r"tiw train .*--steps (\d+)", line)
        if steps:
            every = re.search(r"--checkpoint-every (\d+)", line)
            assert int(every.group(1) if every else 1000) < int(steps.group(1)), line


def test_cross_identity_example_uses_a_split_with_several_people():
    """It runs on the sample set the README builds, whose test split is one man: so the train split."""
    (line,) = [line for line in COMMANDS if "--cross-identity" in line]
    assert "--data data/sample-" in line and "--split train" in line, line


def test_code_points_only_to_files_in_the_repository():
    for path in [*REPO.glob("tiwcli/**/*.py"), *REPO.glob("scripts/**/*.py")]:
        assert "DATA.md" not in path.read_text(), path


def test_robustness_table_lists_at_least_70_cases():
    rows = [
        line
        for line in (REPO / "docs" / "robustness.md").read_text().splitlines()
        if line.startswith("|") and not line.startswith("| ---") and not line.startswith("| #")
    ]
    assert len(rows) >= 70, len(rows)


def test_docs_use_the_current_flag_names():
    """Renamed flags (issue 12) appear in the README and docs under their new names only."""
    old = re.compile(r"(?:--num-sources|--max-sources|--landmarks auto|--landmarks [a-z]|--backend )")
    for path in [REPO / "README.md", *REPO.glob("docs/*.md")]:
        text = path.read_text()
        assert not old.search(text), (path, old.search(text).group(0))
