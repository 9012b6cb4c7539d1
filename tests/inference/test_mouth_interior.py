"""tiwcli/inference/mouth_interior.py on the sample portrait (mouth open, teeth showing): the driver's
mouth goes inside the output's inner lips, only where the mouth opens past the source's, moved and
colour-matched; and Animator paints it only when asked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiwcli.inference.mouth_interior import (
    GAIN_RANGE,
    INNER_LIPS,
    LUMA,
    fit_in_range,
    hue_turned,
    luma_gain,
    paint_mouth_interior,
    points_box,
    polygon_mask,
    to_output_light,
)
from tiwcli.io.images import load_image

SIZE = 256


@pytest.fixture(scope="module")
def mouth(face_photo, dlib_analyzer):
    """The sample's face as a 256 crop, its landmarks in [-1, 1], and a copy of them with the mouth shut."""
    from PIL import Image

    image = load_image(face_photo)
    x0, y0, x1, y1 = dlib_analyzer.detect(image)[0].box
    side = 1.8 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    box = tuple(int(v) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    crop = np.asarray(Image.fromarray(image).crop(box).resize((SIZE, SIZE), Image.BICUBIC))
    landmarks = dlib_analyzer.detect(crop)[0].landmarks.astype(np.float64) / SIZE * 2 - 1  # (68, 2)
    shut = landmarks.copy()
    middle = (shut[[61, 62, 63], 1] + shut[[67, 66, 65], 1]) / 2
    shut[[61, 62, 63], 1] = middle
    shut[[67, 66, 65], 1] = middle
    return crop, landmarks, shut


def inside(landmarks: np.ndarray) -> np.ndarray:
    """(S, S) bool: the pixels fully inside the inner lips."""
    box = points_box(landmarks[INNER_LIPS], SIZE)
    full = np.zeros((SIZE, SIZE), bool)
    full[box[1] : box[3], box[0] : box[2]] = polygon_mask(landmarks[INNER_LIPS], SIZE, box) > 0.99
    return full


def with_red_hole(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    holed = image.copy()
    box = points_box(landmarks[INNER_LIPS], SIZE)
    region = polygon_mask(landmarks[INNER_LIPS], SIZE, box) > 0
    holed[box[1] : box[3], box[0] : box[2]][region] = (190, 40, 50)  # the warp's stretched lips
    return holed


def test_the_drivers_mouth_fills_the_hole_where_the_mouth_opens_past_the_sources(mouth):
    crop, landmarks, shut = mouth
    holed = with_red_hole(crop, landmarks)
    painted = paint_mouth_interior(holed[None], crop[None], landmarks[None], landmarks[None], shut)[0]
    region = inside(landmarks)
    assert 150 < region.sum() < 5000  # an open mouth, not the face
    assert np.abs(painted[region].astype(int) - crop[region]).mean() < 2  # the teeth are back
    assert np.abs(holed[region].astype(int) - crop[region]).mean() > 40  # they were not there
    box = points_box(landmarks[INNER_LIPS], SIZE)
    outside = np.ones((SIZE, SIZE), bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    assert np.array_equal(painted[outside], holed[outside])  # nothing else is touched


def test_nothing_changes_where_the_mouth_opens_no_wider_than_the_sources(mouth):
    crop, landmarks, _ = mouth
    holed = with_red_hole(crop, landmarks)
    same = paint_mouth_interior(holed[None], crop[None], landmarks[None], landmarks[None], landmarks)
    assert np.array_equal(same[0], holed)


def test_frames_without_a_face_are_left_as_they_are(mouth):
    crop, landmarks, shut = mouth
    holed = with_red_hole(crop, landmarks)
    nowhere = np.full_like(landmarks, np.nan)
    batch = np.stack([holed, holed])
    painted = paint_mouth_interior(batch, np.stack([crop, crop]), np.stack([nowhere, landmarks]),
                                   np.stack([landmarks, landmarks]), shut)  # fmt: skip
    assert np.array_equal(painted[0], holed)  # no driver face in frame 0
    assert not np.array_equal(painted[1], holed)
    source_without_face = paint_mouth_interior(batch, np.stack([crop, crop]), np.stack([landmarks] * 2),
                                               np.stack([landmarks] * 2), nowhere)  # fmt: skip
    assert np.array_equal(source_without_face, batch)


@pytest.mark.parametrize("power", [1.0, 0.5])
def test_the_mouth_is_moved_onto_the_outputs_lips_and_takes_its_light(mouth, monkeypatch, power):
    """The output's face 12 px to the right and in a darker light: the driver's teeth land between
    the output's lips, in the output's light (its luma and, dimmed with it, its colour) with the
    skins' luma ratio taken whole (LUMA_GAIN_POWER 1); at the default power 0.5 (a darker skin is
    not all dimmer light: RULE.md, twentieth rule) their luma is dimmed by the ratio's square root."""
    from tiwcli.inference import mouth_interior

    monkeypatch.setattr(mouth_interior, "LUMA_GAIN_POWER", power)
    crop, landmarks, shut = mouth
    shift = 12
    light = np.array([0.75, 0.75, 0.75])
    output_face = np.clip(np.roll(crop, shift, axis=1) * light, 0, 255).astype(np.uint8)
    output_landmarks = landmarks + np.array([2 * shift / SIZE, 0])
    holed = with_red_hole(output_face, output_landmarks)
    painted = paint_mouth_interior(
        holed[None],
        crop[None],
        landmarks[None],
        output_landmarks[None],
        shut + np.array([2 * shift / SIZE, 0]),
    )[0]
    region = inside(output_landmarks)
    undimmed = np.roll(crop, shift, axis=1)[region].astype(float)
    if power == 1:
        error = np.abs(painted[region].astype(float) - output_face[region]).mean()
        assert error < 4, error  # the right pixels, in the output's light (rounding of the dimmed copy)
        assert np.abs(painted[region].astype(float) - undimmed).mean() > 3 * error
    else:
        dimmed = (painted[region].astype(float) @ LUMA).mean() / (undimmed @ LUMA).mean()
        assert dimmed == pytest.approx(0.75**0.5, abs=0.03)  # between the output's light and the driver's


def test_the_animator_paints_only_when_asked(tiny_landmark_config, face_photo, wolfgang):
    """Real clip, tiny landmark model: `mouth_interior` "driver" changes the output only around the
    mouth, and only in frames where it opens past the portrait's (it is the default); "warp" not at all."""
    from tiwcli.inference.animator import Animator
    from tiwcli.inference.options import AnimateOptions
    from tiwcli.io.video import read_all_frames
    from tiwcli.models import ImplicitWarping

    torch.manual_seed(0)
    model = ImplicitWarping(tiny_landmark_config).eval()
    clip = read_all_frames(wolfgang, max_frames=24)

    def results(**options):
        animator = Animator(model, AnimateOptions(device="cpu", paste_back=False, batch_size=8, **options))
        sources = animator.sources_from_images([load_image(face_photo)])
        return np.concatenate([batch.results for batch in animator.animate(sources, lambda: iter(clip))])

    plain, painted = results(mouth_interior="warp"), results(mouth_interior="driver")
    assert np.array_equal(painted, results())
    changed = np.abs(plain.astype(int) - painted).sum(-1) > 0  # (b, S, S)
    assert 0 < changed.any(axis=(1, 2)).sum() < len(clip)  # some frames, not every one
    ys, xs = np.nonzero(changed.any(0))
    size = plain.shape[1]
    assert ys.min() > size * 0.45 and xs.min() > size * 0.2 and xs.max() < size * 0.8  # the mouth only


def test_the_inner_lips_are_mapped_onto_the_inner_lips(mouth):
    """An output whose lips are thinner than the driver's (outer lips shrunk about the mouth): the
    driver's interior is mapped by its inner lips alone, so none of the driver's lips (painted green
    here, outside its inner contour) comes inside the output's inner lips (RULE.md, ninth rule)."""
    crop, landmarks, shut = mouth
    driver = crop.copy()
    box = points_box(landmarks[48:60], SIZE)
    outer = polygon_mask(landmarks[48:60], SIZE, box) > 0
    lips = np.zeros((SIZE, SIZE), bool)
    lips[box[1] : box[3], box[0] : box[2]] = outer
    lips &= ~inside(landmarks) & (polygon_mask_full(landmarks) < 0.01)
    driver[lips] = (0, 255, 0)  # the driver's lips: green
    output = landmarks.copy()
    centre = output[48:60].mean(0)
    output[48:60] = centre + (output[48:60] - centre) * 0.8  # thinner lips, the same inner contour
    painted = paint_mouth_interior(driver[None], driver[None], landmarks[None], output[None], shut)[0]
    region = inside(output)
    green = (painted[region, 1].astype(int) - painted[region, 0] > 100) & (painted[region, 2] < 100)
    assert region.sum() > 150 and green.mean() < 0.01


def polygon_mask_full(landmarks: np.ndarray) -> np.ndarray:
    """(S, S) coverage of the inner-lip polygon over the whole crop."""
    full = np.zeros((SIZE, SIZE), np.float32)
    box = points_box(landmarks[INNER_LIPS], SIZE)
    full[box[1] : box[3], box[0] : box[2]] = polygon_mask(landmarks[INNER_LIPS], SIZE, box)
    return full


def test_the_interior_takes_the_outputs_luma_and_no_more_colour_than_its_skin():
    """`to_output_light`: the same skins leave the pixels as they are; a grey output skin gives a
    grey mouth (a red tongue loses its red), its luma scaled by the skins' luma ratio; a more
    colourful output skin than the driver's does not add colour."""
    pixels = np.array([[[200.0, 60.0, 70.0], [230.0, 225.0, 220.0]]], np.float32)  # tongue, tooth
    skin = np.array([190.0, 140.0, 120.0], np.float32)
    assert np.allclose(to_output_light(pixels, skin, skin), pixels, atol=1e-3)
    grey_skin = np.full(3, 95.0, np.float32)  # a black-and-white portrait, darker than the driver
    grey = to_output_light(pixels, grey_skin, skin)
    assert np.ptp(grey, axis=-1).max() < 1e-3  # no colour left
    from tiwcli.inference.mouth_interior import LUMA_GAIN_POWER

    ratio = ((95.0 + 1) / (float(skin @ LUMA) + 1)) ** LUMA_GAIN_POWER
    assert np.allclose(grey[..., 0], (pixels @ LUMA) * ratio, rtol=1e-4)
    vivid = to_output_light(pixels, np.array([250.0, 120.0, 60.0], np.float32), skin)
    departure = vivid - (vivid @ LUMA)[..., None]
    assert (
        np.linalg.norm(departure, axis=-1).max()
        <= np.linalg.norm(pixels - (pixels @ LUMA)[..., None], axis=-1).max() + 1e-3
    )
    assert to_output_light(pixels, None, skin) is pixels


def hue(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) -> (...,) the hue angle of YCbCr's (Cb, Cr), radians."""
    grey = rgb @ LUMA
    return np.arctan2(0.713 * (rgb[..., 0] - grey), 0.564 * (rgb[..., 2] - grey))


def test_a_pixel_out_of_range_keeps_its_hue():
    """`fit_in_range`: pixels within 0-255 stay; a bright pink pushed past 255 in red is pulled
    toward its own luma until it fits, its hue kept, where clipping red alone turns it lavender."""
    inside = np.array([[10.0, 200.0, 30.0], [255.0, 0.0, 128.0]], np.float32)
    assert np.allclose(fit_in_range(inside), inside, atol=1e-3)
    pink = np.array([274.0, 229.0, 248.0], np.float32)  # retalking-4's tooth brightened (RULE.md, 18th)
    fitted = fit_in_range(pink)
    assert fitted.max() <= 255 + 1e-3 and fitted.min() >= -1e-3
    assert fitted @ LUMA == pytest.approx(pink @ LUMA, abs=1e-3)  # the luma was in range: kept
    assert hue(fitted) == pytest.approx(hue(pink), abs=1e-4)
    clipped = np.clip(pink, 0, 255)
    assert abs(hue(clipped) - hue(pink)) > 0.1  # what it replaces turns the hue
    too_bright = fit_in_range(np.array([300.0, 290.0, 310.0], np.float32))
    assert np.allclose(too_bright, 255, atol=1e-3)  # a luma past white is white


def test_the_interior_hue_is_turned_from_the_drivers_skin_to_the_outputs(monkeypatch):
    """`hue_turned`: the same skins leave the pixels as they are; a magenta driver's lavender tooth
    in a warm portrait comes out in the portrait's cast (its hue turned as far as the skins' hues
    differ, warm and nearer white than the pixel clipped per channel, at the eighteenth rule's
    luma gain: LUMA_GAIN_POWER 1); a grey portrait gets a grey mouth; every pixel fits 0-255."""
    from tiwcli.inference import mouth_interior

    monkeypatch.setattr(mouth_interior, "LUMA_GAIN_POWER", 1.0)
    pixels = np.array([[[237.0, 192.0, 210.0], [120.0, 40.0, 50.0]]], np.float32)  # tooth, tongue
    magenta = np.array([189.0, 140.0, 145.0], np.float32)  # retalking-4's skin (RULE.md, 18th rule)
    warm = np.array([230.0, 171.0, 127.0], np.float32)  # a dev portrait's
    assert np.allclose(hue_turned(pixels, magenta, magenta), pixels, atol=1e-2)
    turned = hue_turned(pixels, warm, magenta)
    assert turned.min() >= -1e-3 and turned.max() <= 255 + 1e-3
    turn = hue(warm) - hue(magenta)
    assert hue(turned[0, 1]) - hue(pixels[0, 1]) == pytest.approx(turn, abs=1e-3)  # the tongue's in range
    tooth = turned[0, 0]
    assert tooth[0] >= tooth[1] >= tooth[2]  # warm (red, green, blue in that order), not lavender
    old = np.clip(to_output_light(pixels, warm, magenta), 0, 255)[0, 0]
    assert np.ptp(tooth) < np.ptp(old) - 5  # nearer white
    grey = hue_turned(pixels, np.full(3, 95.0, np.float32), magenta)
    assert np.ptp(grey, axis=-1).max() < 1e-2
    assert hue_turned(pixels, None, magenta) is pixels


def test_the_luma_gain_is_the_skins_ratio_to_a_power(monkeypatch):
    """`luma_gain`: the skins' luma ratio, bounded by GAIN_RANGE, to the power LUMA_GAIN_POWER (the
    twentieth rule): 1 gives the ratio, 0.5 its square root (a darker skin darkens the teeth half as
    much in log terms), 0 leaves the driver's brightness; the same skins give 1 at any power."""
    from tiwcli.inference import mouth_interior

    darker = np.array([121.0, 69.0, 64.0], np.float32)  # Biden's skin in RULE.md's twentieth rule
    paler = np.array([180.0, 148.0, 129.0], np.float32)  # the vasa-l5 driver's
    ratio = (float(darker @ LUMA) + 1) / (float(paler @ LUMA) + 1)
    assert GAIN_RANGE[0] < ratio < 1
    expected = {1.0: ratio, 0.5: ratio**0.5, 0.0: 1.0}
    for power, gain in expected.items():
        monkeypatch.setattr(mouth_interior, "LUMA_GAIN_POWER", power)
        assert luma_gain(darker, paler) == pytest.approx(gain, rel=1e-5)
        assert luma_gain(paler, paler) == pytest.approx(1.0, rel=1e-5)
    monkeypatch.setattr(mouth_interior, "LUMA_GAIN_POWER", 0.5)
    black = np.zeros(3, np.float32)
    assert luma_gain(black, paler) == pytest.approx(GAIN_RANGE[0] ** 0.5)  # bounded, then the power
