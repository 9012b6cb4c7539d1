"""The model card's data table (weights/training-data.md): every clip of a dataset built by
scripts/data/make_training_dataset.py, by split and person, with where each talking-heads clip comes from.

    .venv/bin/python scripts/data/dataset_table.py data/train-256 \
        ../shared/data/talking-heads/MANIFEST.tsv > weights/training-data.md
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path


def main(argv: list[str]) -> int:
    dataset, talking_heads = Path(argv[0]), Path(argv[1])
    manifest = json.loads((dataset / "manifest.json").read_text())
    rows = {row["file"]: row for row in csv.DictReader(talking_heads.open(newline=""), delimiter="\t")}
    frames: dict[str, int] = defaultdict(int)
    clips: dict[str, int] = defaultdict(int)
    split_of: dict[str, str] = {}
    for clip in manifest["clips"]:
        name = Path(clip["source"]).name
        frames[name] += clip["num_frames"]
        clips[name] += 1
        split_of[name] = clip["split"]
    print("# The training data of the expressions run, clip by clip\n")
    print("Built by `scripts/data/make_training_dataset.py data/train-256 --talking-heads DIR` (DIR")
    print("holds the clips and their MANIFEST.tsv; the clips are not in this repository). Split by person:")
    print("no person is on two sides. Frames: those with a face, cut into clips of at most 300 frames.\n")
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    people: dict[str, set[str]] = defaultdict(set)
    print("| split | source video | person | kind | clips | frames | from (repository @ commit: path) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in sorted(frames, key=lambda n: (("train", "dev", "test").index(split_of[n]), n)):
        row = rows.get(name)
        split = split_of[name]
        person = row["person"] if row else name.split(".")[0]
        kind = row["kind"].split(" ")[0] if row else "real"
        origin = (
            f"{row['repository']} @ {row['commit']}: `{row['path_in_repository']}`"
            if row
            else "the offline packages (wave 1-2)"
        )
        print(f"| {split} | {name} | {person} | {kind} | {clips[name]} | {frames[name]} | {origin} |")
        totals[split][0] += clips[name]
        totals[split][1] += frames[name]
        people[split].add(person)
    print("\n| split | clips | frames | people (source videos of wave 1-2 counted as one person each) |")
    print("| --- | --- | --- | --- |")
    for split in ("train", "dev", "test"):
        print(f"| {split} | {totals[split][0]} | {totals[split][1]} | {len(people[split])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
