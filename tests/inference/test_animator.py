"""Animator on an untrained tiny model: streaming, one source encoding, motion modes, source choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiwcli.errors import InputError
from tiwcli.inference.animator import Animator
from tiwcli.inference.motion import best_reference_frame, farthest_point_sampling, relative_keypoints
from tiwcli.inference.options import AnimateOptions
from tiwcli.io.images import load_image
from tiwcli.io.video import read_all_frames
from tiwcli.models import ImplicitWarping, Keypoints
from tiwcli.runtime import resolve_device


@pytest.fixture(scope="module")
def model(tiny_config) -> ImplicitWarping:
    torch.manual_seed(0)
    return ImplicitWarping(tiny_config).eval()


@pytest.fixture(scope="module")
def frames(carphone) -> np.ndarray:
    """19 real frames (176x144, a man talking): an odd count, so the last batch is partial."""
    return read_all_frames(carphone, max_frames=19)


def spy_on_driving_landmarks(model: ImplicitWarping) -> list[torch.Tensor | None]:
    """The list that each `model.animate` call appends its driving landmarks (b, 68, 2) to."""
    seen: list[torch.Tensor | None] = []
    original = model.animate

    def spy(encoding, keypoints, driving_landmarks=None):
        seen.append(driving_landmarks)
        return original(encoding, keypoints, driving_landmarks)

    model.animate = spy  # type: ignore[method-assign]
    return seen


def no_crop(**changes) -> AnimateOptions:
    return AnimateOptions(crop=False, device="cpu", **changes)


def test_one_output_frame_per_driving_frame(model, frames):
    animator = Animator(model, no_crop(batch_size=4))
    sources = animator.sources_from_images([frames[0], frames[10]])
    outputs = list(animator.frames(sources, lambda: iter(frames)))
    assert len(outputs) == len(frames)
    assert all(frame.shape == (64, 64, 3) and frame.dtype == np.uint8 for frame in outputs)
    summary = animator.summary
    assert summary.frames == len(frames)
    assert summary.sources_used == (0, 1)
    assert summary.output_size == (64, 64)
    assert summary.reference_frame == 0


def test_sources_are_encoded_once_and_batches_are_bounded(model, frames, monkeypatch):
    encode_calls = []
    seen_batches = []
    original_encode, original_animate = model.encode_sources, model.animate

    def spy_encode(sources):
        encode_calls.append(sources.shape)
        return original_encode(sources)

    def spy_animate(encoding, keypoints):
        seen_batches.append(keypoints.positions.shape[0])
        return original_animate(encoding, keypoints)

    monkeypatch.setattr(model, "encode_sources", spy_encode)
    monkeypatch.setattr(model, "animate", spy_animate)
    hook = model.keypoint_detector.register_forward_pre_hook(
        lambda module, args: seen_batches.append(args[0].shape[0])
    )
    try:
        animator = Animator(model, no_crop(batch_size=4, find_best_frame=True))
        sources = animator.sources_from_images([frames[0], frames[5], frames[9]])
        encode_calls.clear()
        seen_batches.clear()
        assert len(list(animator.frames(sources, lambda: iter(frames)))) == len(frames)
    finally:
        hook.remove()
    assert encode_calls == [(1, 3, 3, 64, 64)]
    assert max(seen_batches) <= 4


def test_driving_frames_are_pulled_lazily(model, frames):
    """Peak memory does not grow with the video: the first batch comes out after a few batches
    were read (crops cut ahead in a thread, paste-back one batch behind the model), not all."""
    long_clip = np.concatenate([frames] * 6)  # 114 frames
    pulled = []

    def driving():
        for frame in long_clip:
            pulled.append(1)
            yield frame

    animator = Animator(model, no_crop(batch_size=4))
    batches = animator.animate(animator.sources_from_images([frames[0]]), driving)
    first = next(batches)
    assert len(first.frames) == 4
    # 2 batches being animated or pasted, 2 queued, 1 being cut, and a frame being read
    assert len(pulled) <= 5 * 4 + 1
    batches.close()


def test_relative_motion_reproduces_the_source_on_the_reference_frame(model, frames):
    relative = Animator(model, no_crop(mode="relative"))
    sources = relative.sources_from_images([frames[12]])
    source_keypoints = relative.source_keypoints(sources)
    first = next(relative.animate(sources, lambda: iter(frames)))
    # frame 0 is the reference: its motion keypoints are the source's own
    np.testing.assert_allclose(first.motion_keypoints.positions[0], source_keypoints.positions[0], atol=1e-5)
    np.testing.assert_allclose(first.motion_keypoints.strengths[0], source_keypoints.strengths[0], atol=1e-3)

    absolute = Animator(model, no_crop(mode="absolute"))
    first_absolute = next(absolute.animate(sources, lambda: iter(frames)))
    np.testing.assert_allclose(
        first_absolute.motion_keypoints.positions, first_absolute.driving_keypoints.positions
    )
    assert not np.allclose(first.motion_keypoints.positions, first_absolute.motion_keypoints.positions)
    assert not np.array_equal(first.results, first_absolute.results)


def test_relative_keypoints_move_and_stay_in_range():
    source = Keypoints(torch.tensor([[0.0, 0.0], [0.5, 0.5]]), torch.tensor([0.9, 0.2]))
    reference = Keypoints(torch.tensor([[0.1, 0.1], [0.6, 0.4]]), torch.tensor([0.5, 0.5]))
    driving = Keypoints(torch.tensor([[[0.2, 0.1], [0.6, 0.4]]]), torch.tensor([[0.99, 0.001]]))
    moved = relative_keypoints(source, driving, reference)
    torch.testing.assert_close(moved.positions, torch.tensor([[[0.1, 0.0], [0.5, 0.5]]]))
    assert moved.strengths[0, 0] > 0.9 and moved.strengths[0, 1] < 0.2  # same direction as the driving change
    assert ((moved.strengths > 0) & (moved.strengths < 1)).all()


def test_find_best_frame_picks_the_frame_like_the_source(model, frames):
    animator = Animator(model, no_crop(find_best_frame=True, batch_size=8))
    sources = animator.sources_from_images([frames[13]])  # the same picture as driving frame 13
    list(animator.frames(sources, lambda: iter(frames)))
    assert animator.summary.reference_frame == 13


def test_best_reference_frame_ignores_position_and_scale():
    rng = np.random.default_rng(0)
    source = rng.uniform(-0.5, 0.5, (5, 2))
    candidates = rng.uniform(-0.5, 0.5, (6, 5, 2))
    candidates[4] = source * 0.5 + 0.3  # same pose, smaller and shifted
    assert best_reference_frame(source, candidates) == 4


def test_farthest_point_sampling_picks_distinct_spread_rows():
    points = np.array([[0.0], [0.1], [5.0], [0.2], [10.0], [5.1]])
    assert farthest_point_sampling(points, 3) == [0, 4, 2]
    duplicates = np.zeros((4, 2))
    assert sorted(farthest_point_sampling(duplicates, 3)) == [0, 1, 2]
    assert farthest_point_sampling(points, 10) == farthest_point_sampling(points, 6)


def test_source_video_gives_num_sources_distinct_frames(model, frames):
    animator = Animator(model, no_crop(num_sources=3))
    sources = animator.sources_from_video(lambda: iter(frames))
    assert len(set(sources.frame_indices)) == 3
    assert sources.crops.shape == (3, 64, 64, 3)
    for crop, index in zip(sources.crops, sources.frame_indices, strict=True):
        np.testing.assert_array_equal(crop, animator.sources_from_images([frames[index]]).crops[0])


def test_crop_mode_tracks_faces_and_pastes_back(model, wolfgang, face_photo):
    """A real face clip with one blank frame: it is counted, and the output is the full source photo."""
    driving = read_all_frames(wolfgang, max_frames=6)
    driving[3] = 0  # no face in this frame
    photo = load_image(face_photo)
    animator = Animator(model, AnimateOptions(device="cpu", batch_size=4))
    sources = animator.sources_from_images([photo])
    assert sources.frame is not None  # one photo larger than the crop: paste-back by default
    outputs = list(animator.frames(sources, lambda: iter(driving)))
    assert len(outputs) == 6
    assert outputs[0].shape == photo.shape
    assert animator.summary.frames_without_face == 1
    # far from the face, the photo is untouched
    np.testing.assert_array_equal(outputs[0][:20, :20], photo[:20, :20])
    # every stage of the face path was timed
    assert {"faces", "crop", "model", "paste"} <= set(animator.summary.stage_seconds)
    assert all(seconds >= 0 for seconds in animator.summary.stage_seconds.values())


def test_detecting_every_frame_or_every_k_frames_gives_nearly_the_same_crops(model, wolfgang):
    driving = read_all_frames(wolfgang, max_frames=24)
    photo = driving[0]
    outputs = {}
    for detect_every in (1, 8):
        animator = Animator(model, AnimateOptions(device="cpu", batch_size=8, detect_every=detect_every))
        sources = animator.sources_from_images([photo])
        outputs[detect_every] = np.stack(
            [batch.driving for batch in animator.animate(sources, lambda: iter(driving))]
        )
    difference = np.abs(outputs[1].astype(int) - outputs[8].astype(int)).mean()
    assert difference < 8  # grey levels: the crops sit within a pixel or two of each other


def test_source_photo_without_a_face_is_an_input_error(model):
    animator = Animator(model, AnimateOptions(device="cpu"))
    with pytest.raises(InputError, match="no face"):
        animator.sources_from_images([np.full((200, 200, 3), 128, np.uint8)], names=["gray.png"])


def test_options_are_validated():
    with pytest.raises(InputError):
        AnimateOptions(mode="sideways")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        AnimateOptions(batch_size=0)
    with pytest.raises(InputError, match="paste-back"):
        AnimateOptions(crop=False, paste_back=True)
    with pytest.raises(InputError, match="detect-every"):
        AnimateOptions(detect_every=0)


def test_device_auto_and_missing_cuda():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            resolve_device("cuda")


def test_source_video_with_face_crops(model, tmp_path):
    """A real talking-head video as the source: faces tracked, two different frames with a face."""
    from tiwcli.samples import sample_file

    clip = read_all_frames(sample_file("single_face.mp4"), max_frames=16)
    animator = Animator(model, AnimateOptions(device="cpu", num_sources=2, paste_back=True))
    sources = animator.sources_from_video(lambda: iter(clip))
    assert len(set(sources.frame_indices)) == 2
    assert sources.crops.shape == (2, 64, 64, 3)
    assert sources.frame is not None and sources.frame.shape == clip[0].shape  # paste-back asked for
    outputs = list(animator.frames(sources, lambda: iter(clip[:3])))
    assert len(outputs) == 3 and outputs[0].shape == clip[0].shape


# ------------------------------------------------------------------ the landmark prior's inputs


def test_landmarks_in_crop_use_the_preprocess_convention():
    from tiwcli.dataset.preprocess import crop_landmarks
    from tiwcli.faces.crop import CropBox
    from tiwcli.inference.motion import landmarks_in_crop

    box = CropBox(center_x=100.0, center_y=80.0, size=64.0)
    points = np.random.default_rng(0).uniform(60, 130, size=(68, 2))
    expected = crop_landmarks(points[None], box.as_array()[None])[0]
    assert np.allclose(landmarks_in_crop(points, box, 0), expected, atol=1e-5)
    assert np.allclose(landmarks_in_crop(np.array([[0.0, 64.0]] * 68), None, 64), [[-1.0, 1.0]] * 68)
    assert np.isnan(landmarks_in_crop(None, box, 0)).all()


def test_relative_landmarks_move_the_source_by_the_driving_change():
    from tiwcli.inference.motion import CLOSING_PAIRS, motion_landmarks

    rng = np.random.default_rng(1)
    anchor, reference = rng.uniform(-0.5, 0.5, (68, 2)), rng.uniform(-0.5, 0.5, (68, 2))
    for upper, lower in CLOSING_PAIRS:  # lips and eyelids open, as on a face
        anchor[lower, 1] = anchor[upper, 1] + 0.05
    driving = reference[None] + np.array([0.1, -0.05])
    moved = motion_landmarks(driving, reference, anchor, "relative")
    assert np.allclose(moved[0], anchor + np.array([0.1, -0.05]), atol=1e-6)
    assert np.array_equal(motion_landmarks(driving, reference, anchor, "absolute"), driving)


def test_relative_landmarks_close_lips_rather_than_cross_them(face_photo):
    """Real landmarks: the driver's reference frame has the mouth open by 6 px and the driver
    then closes it; the source's closed lips must end closed (gap 0), not inverted, while
    the rest of the face moves as driven and an opening mouth still opens."""
    from tiwcli.faces.backends import load_face_analyzer
    from tiwcli.inference.motion import CLOSING_PAIRS, motion_landmarks

    analyzer = load_face_analyzer("dlib")
    source = analyzer.detect(load_image(face_photo))[0].landmarks.astype(np.float64)
    lower = [pair[1] for pair in CLOSING_PAIRS[:3]]
    upper = [pair[0] for pair in CLOSING_PAIRS[:3]]
    source[lower, 1] = source[upper, 1]  # the source's mouth: shut
    reference = source.copy()
    reference[lower, 1] += 6.0  # the driver's reference: open
    closing = reference.copy()
    closing[lower, 1] -= 6.0
    closing += 2.0  # and the head moves
    opening = reference.copy()
    opening[lower, 1] += 10.0
    moved = motion_landmarks(np.stack([closing, opening]), reference, source, "relative")
    gaps = moved[:, lower, 1] - moved[:, upper, 1]
    assert np.allclose(gaps[0], 0.0, atol=1e-4)  # closed, not crossed by 6 px
    assert np.allclose(gaps[1], 10.0, atol=1e-4)  # opening still follows the driver
    others = [i for i in range(68) if i not in lower and i not in upper]
    assert np.allclose(moved[0, others], source[others] + 2.0, atol=1e-4)


@pytest.mark.parametrize("crop", [True, False])
def test_a_landmark_model_is_driven_with_the_tracked_landmarks(
    tiny_landmark_config, face_photo, wolfgang, crop
):
    """Real photo, real clip: the sources and every driving frame with a face reach the model with
    their 68 landmarks inside the crop; relative mode moves the source's own landmarks."""

    config = tiny_landmark_config
    torch.manual_seed(0)
    landmark_model = ImplicitWarping(config).eval()
    seen = spy_on_driving_landmarks(landmark_model)
    # mouth_reference "frame": FOMM's relative motion, which the last assertion checks
    options = AnimateOptions(device="cpu", batch_size=4, crop=crop, paste_back=False, mouth_reference="frame")
    animator = Animator(landmark_model, options)
    sources = animator.sources_from_images([load_image(face_photo)])
    assert sources.landmarks is not None and sources.landmarks.shape == (1, 68, 2)
    assert np.isfinite(sources.landmarks).all() and np.abs(sources.landmarks).max() < 1.2

    clip = read_all_frames(wolfgang, max_frames=6)

    outputs = list(animator.frames(sources, lambda: iter(clip)))
    assert len(outputs) == 6 and sum(len(batch) for batch in seen) == 6
    landmarks = np.concatenate([batch.numpy() for batch in seen])  # (6, 68, 2)
    assert np.isfinite(landmarks).all()  # the woman's face is found in every frame
    # relative: the first frame's landmarks are the source's own
    assert np.allclose(landmarks[0], sources.landmarks[0], atol=1e-5)


def test_the_mouth_reference_looks_ahead_and_streams_like_one_batch(
    tiny_landmark_config, face_photo, wolfgang
):
    """Real clip: with mouth_reference "closed" (the default), the landmarks the model gets are the
    same for any batch size (the closed mouth is carried between batches, and the look-ahead reads the track),
    and their mouths open at least as far as when measured from the first frame's mouth."""

    from tiwcli.inference.motion import mouth_openings

    config = tiny_landmark_config
    torch.manual_seed(0)
    landmark_model = ImplicitWarping(config).eval()
    clip = read_all_frames(wolfgang, max_frames=10)
    seen = spy_on_driving_landmarks(landmark_model)

    def driven(**options) -> np.ndarray:
        seen.clear()
        animator = Animator(landmark_model, AnimateOptions(device="cpu", paste_back=False, **options))
        sources = animator.sources_from_images([load_image(face_photo)])
        list(animator.frames(sources, lambda: iter(clip)))
        return np.concatenate([batch.numpy() for batch in seen])  # (10, 68, 2)

    closed = driven(batch_size=3)  # the default
    assert np.allclose(closed, driven(batch_size=10, mouth_reference="closed"), atol=1e-6)
    from_frame = driven(batch_size=3, mouth_reference="frame")
    assert not np.allclose(closed, from_frame)  # her mouth is least open later in the clip
    assert (
        mouth_openings(closed.astype(np.float64)) >= mouth_openings(from_frame.astype(np.float64)) - 1e-4
    ).all()


def test_relative_landmarks_are_measured_from_the_first_frame_with_a_face(model):
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(-0.5, 0.5, (3, 68, 2)).astype(np.float32)
    landmarks[0] = np.nan  # the first driving frame has no face
    for mouth_reference in ("frame", "closed"):
        animator = Animator(model, no_crop(mouth_reference=mouth_reference))
        references = animator.landmark_references(None, landmarks)
        assert np.isfinite(references).all()
        first = references if references.ndim == 2 else references[0]
        assert np.allclose(first, landmarks[1], atol=0.05)  # frame 1's (its mouth closed at most)
        assert animator.landmark_references(None, landmarks[:1]) is None  # no face at all


def test_a_closed_source_mouth_hands_the_model_closed_lips_where_the_driver_stands_still(
    tiny_landmark_config, face_photo
):
    """Real photo of a man with his mouth open, driven by itself (the driver does not move): as is,
    the model gets his open mouth back; with source_mouth "closed", his mouth shut (the driver's
    own opening, zero from his least open mouth, added to a closed mouth), the rest of the face
    where it was."""
    from tiwcli.inference.motion import mouth_openings

    torch.manual_seed(0)
    model = ImplicitWarping(tiny_landmark_config).eval()
    seen = spy_on_driving_landmarks(model)
    photo = load_image(face_photo)
    given = {}
    for source_mouth in ("as-is", "closed"):
        options = AnimateOptions(device="cpu", batch_size=3, paste_back=False, source_mouth=source_mouth)
        animator = Animator(model, options)
        sources = animator.sources_from_images([photo])
        seen.clear()
        list(animator.frames(sources, lambda: iter([photo] * 3)))
        given[source_mouth] = np.concatenate([batch.numpy() for batch in seen])  # (3, 68, 2)
    own = float(mouth_openings(sources.landmarks[0]))
    assert own > 0.1  # his mouth is open in the photo
    assert mouth_openings(given["as-is"]) == pytest.approx([own] * 3, abs=1e-4)
    assert np.abs(mouth_openings(given["closed"])).max() < 0.02
    eyes_brows = list(range(17, 48))
    assert np.allclose(given["closed"][:, eyes_brows], given["as-is"][:, eyes_brows], atol=1e-5)


def test_an_unknown_source_mouth_is_refused():
    with pytest.raises(InputError, match="source mouth"):
        AnimateOptions(source_mouth="open")  # type: ignore[arg-type]


def test_a_mouth_scale_hands_the_model_that_many_times_the_drivers_opening(
    tiny_landmark_config, face_photo, wolfgang
):
    """A real photo driven by a real woman talking: with mouth_scale 2 the landmarks handed to the
    model open the portrait's mouth twice as far from its own as with 1, frame by frame, and the
    eyes and brows are where they were."""
    from tiwcli.inference.motion import mouth_openings

    torch.manual_seed(0)
    model = ImplicitWarping(tiny_landmark_config).eval()
    seen = spy_on_driving_landmarks(model)
    photo = load_image(face_photo)
    driving = read_all_frames(wolfgang, max_frames=200)[120::8]  # (10, H, W, 3): her mouth opens and closes
    given = {}
    for scale in (1.0, 2.0):
        options = AnimateOptions(device="cpu", batch_size=5, paste_back=False, mouth_scale=scale)
        animator = Animator(model, options)
        sources = animator.sources_from_images([photo])
        seen.clear()
        list(animator.frames(sources, lambda: iter(driving)))
        given[scale] = np.concatenate([batch.numpy() for batch in seen])  # (10, 68, 2)
    own = float(mouth_openings(sources.landmarks[0]))
    added = mouth_openings(given[1.0]) - own  # the driver's opening, as relative motion adds it
    assert added.max() > 0.05  # she opens her mouth
    assert mouth_openings(given[2.0]) - own == pytest.approx(2 * added, abs=0.01)
    eyes_brows = list(range(17, 48))
    assert np.allclose(given[2.0][:, eyes_brows], given[1.0][:, eyes_brows], atol=1e-5)


@pytest.mark.parametrize("scale", [-0.5, 3.5])
def test_a_mouth_scale_out_of_range_is_refused(scale):
    with pytest.raises(InputError, match="mouth scale must be from 0 to 3"):
        AnimateOptions(mouth_scale=scale)


def test_the_opening_scale_is_the_mouth_scale_as_the_controls_weight_the_mouth():
    from tiwcli.inference.motion_controls import MotionControls

    assert AnimateOptions(mouth_scale=1.5).opening_scale == 1.5
    assert AnimateOptions(mouth_scale=1.5, controls=MotionControls(mouth=False)).opening_scale == 1
    assert AnimateOptions(mouth_scale=1.5, controls=MotionControls(motion="pose")).opening_scale == 1
    assert AnimateOptions(mouth_scale=1.5, controls=MotionControls(expression_scale=2.0)).opening_scale == 2
