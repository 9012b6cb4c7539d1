"""Several faces in one photo (inference/group.py): a real group photo of 6 people, real drivers, the
shipped weights. Properties, not goldens: each face moves, the rest of the photo does not, each face
keeps its identity; and the paste of overlapping faces (faces/crop.py `paste_faces`) has no seam."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tiwcli.choices import parse_faces
from tiwcli.errors import InputError
from tiwcli.faces.crop import CropBox, paste_back, paste_faces
from tiwcli.inference.animator import Animator
from tiwcli.inference.group import (
    SharedAnalyzer,
    animate_group,
    faces_in_reading_order,
    group_sources,
    select_faces,
)
from tiwcli.inference.options import AnimateOptions
from tiwcli.io.images import load_image
from tiwcli.io.video import VideoReader


def test_face_selection_words_and_numbers():
    assert parse_faces("all") == "all"
    assert parse_faces(" Largest ") == "largest"
    assert parse_faces("3,1") == (1, 3)
    for bad in ("0", "two", "", "1,-2"):
        with pytest.raises(InputError, match="--faces"):
            parse_faces(bad)


def test_paste_faces_of_one_face_is_paste_back():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    crop = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    box = CropBox(150.3, 90.7, 120.0)
    assert np.abs(paste_faces(frame, [crop], [box]).astype(int) - paste_back(frame, crop, box)).max() <= 1


def test_overlapping_faces_cross_fade_without_a_seam():
    frame = np.full((200, 400, 3), 128, np.uint8)
    dark, light = np.full((64, 64, 3), 40, np.uint8), np.full((64, 64, 3), 220, np.uint8)
    boxes = [CropBox(140, 100, 160), CropBox(260, 100, 160)]  # they overlap by 40 px
    pasted = paste_faces(frame, [dark, light], boxes).astype(int)
    assert pasted[100, 140, 0] == 40 and pasted[100, 260, 0] == 220  # each face's centre is its own
    row = pasted[100, 140:261, 0]
    assert np.all(np.diff(row) >= 0)  # from one face to the other, monotonic
    assert np.abs(np.diff(row)).max() <= 12  # and gradual: no seam at either box's edge
    assert (pasted[:, :55] == 128).all() and (pasted[:, 345:] == 128).all()  # outside both: untouched


@pytest.fixture(scope="module")
def driving_frames(wolfgang) -> list[np.ndarray]:
    with VideoReader(wolfgang) as reader:  # she tilts her head and smiles
        return [frame for index, frame in enumerate(reader.frames()) if index in range(240, 337, 16)]


@pytest.fixture(scope="module")
def group_run(shipped_model, group_photo, dlib_analyzer, driving_frames):
    photo = load_image(group_photo)
    shared = SharedAnalyzer(dlib_analyzer)
    faces = select_faces(faces_in_reading_order(photo, shared), "all", "t1.jpg")
    options = AnimateOptions(batch_size=len(driving_frames), device="cpu", face_backend="dlib", faces="all")
    animators = [Animator(shipped_model, options, analyzer=shared) for _ in faces]  # type: ignore[arg-type]
    group = group_sources(animators[0], photo, faces)
    drivings = [lambda: iter(driving_frames)] * len(faces)
    frames = list(animate_group(animators, photo, group, drivings, ["driver"] * len(faces)))
    return photo, faces, group, frames


def test_every_face_of_a_group_photo_moves_and_nothing_else(group_run, driving_frames):
    photo, faces, group, frames = group_run
    assert len(faces) == 6  # the thorough pass finds all six, numbered from the left
    assert [f.box[0] for f in faces] == sorted(f.box[0] for f in faces)
    assert len(frames) == len(driving_frames) and frames[0].shape == photo.shape
    outside = np.ones(photo.shape[:2], bool)
    for sources in group:
        box = sources.box
        outside[max(int(box.y0), 0) : int(np.ceil(box.y1)), max(int(box.x0), 0) : int(np.ceil(box.x1))] = (
            False
        )
    for frame in frames:
        assert np.array_equal(frame[outside], photo[outside])  # the rest of the photo is untouched
    for face in faces:  # each face moves: the inside of its landmarks' box changes over the clip
        x0, y0 = np.floor(face.landmarks.min(axis=0)).astype(int)
        x1, y1 = np.ceil(face.landmarks.max(axis=0)).astype(int)
        change = max(np.abs(f[y0:y1, x0:x1].astype(int) - photo[y0:y1, x0:x1]).mean() for f in frames)
        assert change > 2.0, f"the face at x={x0} did not move"


def test_every_face_keeps_its_identity(group_run, dlib_analyzer):
    photo, faces, _, frames = group_run
    for frame in (frames[len(frames) // 2], frames[-1]):
        found = dlib_analyzer.detect(frame, thorough=True)
        for face in faces:
            centre = face.landmarks.mean(axis=0)
            match = min(found, key=lambda f: float(np.linalg.norm(f.landmarks.mean(axis=0) - centre)))
            assert np.linalg.norm(match.landmarks.mean(axis=0) - centre) < 30  # the same face, found
            distance = np.linalg.norm(
                dlib_analyzer.embedding(photo, face) - dlib_analyzer.embedding(frame, match)
            )
            assert distance < 0.5


def test_a_face_number_past_the_last_is_one_line(group_photo, dlib_analyzer):
    faces = faces_in_reading_order(load_image(group_photo), dlib_analyzer)
    with pytest.raises(InputError, match=r"--faces 7: t1.jpg has 6 faces \(numbered 1 to 6 from the left\)"):
        select_faces(faces, (2, 7), "t1.jpg")
    assert select_faces(faces, (2, 5), "t1.jpg") == [faces[1], faces[4]]
    assert select_faces(faces, "largest", "t1.jpg") == [max(faces, key=lambda face: face.area)]


def test_each_face_its_own_driver_and_a_shorter_one_holds(
    shipped_model, group_photo, dlib_analyzer, driving_frames
):
    photo = load_image(group_photo)
    faces = select_faces(faces_in_reading_order(photo, dlib_analyzer), (1, 2), "t1.jpg")
    options = dataclasses.replace(
        AnimateOptions(device="cpu", face_backend="dlib", batch_size=4), faces="1,2"
    )
    animators = [Animator(shipped_model, options, analyzer=SharedAnalyzer(dlib_analyzer)) for _ in faces]
    group = group_sources(animators[0], photo, faces)
    short = driving_frames[:2]
    frames = list(
        animate_group(
            animators, photo, group, [lambda: iter(driving_frames), lambda: iter(short)], ["a", "b"]
        )
    )
    assert len(frames) == len(driving_frames)  # the first driver sets the length
    x0, y0 = np.floor(faces[1].landmarks.min(axis=0)).astype(int)
    x1, y1 = np.ceil(faces[1].landmarks.max(axis=0)).astype(int)
    held = [frame[y0:y1, x0:x1] for frame in frames[1:]]
    assert all(np.array_equal(part, held[0]) for part in held)  # the second face holds its last frame
