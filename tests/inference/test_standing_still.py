"""Standing still: driving with the source photo itself gives the photo back (issue 27's check)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tiwcli.checkpoint import default_weights_path, load_model
from tiwcli.inference.animator import Animator
from tiwcli.inference.options import AnimateOptions
from tiwcli.io.images import load_image
from tiwcli.models import ImplicitWarping


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255**2 / max(mse, 1e-10))


@pytest.fixture(scope="module")
def gated_model() -> ImplicitWarping:
    """The shipped weights with the motion gate on (models/motion_gate.py)."""
    model = load_model(default_weights_path())
    if model.config.motion_gate > 0:
        return model
    gated = ImplicitWarping(dataclasses.replace(model.config, motion_gate=0.01))
    gated.load_state_dict(model.state_dict())
    return gated.eval()


@pytest.mark.parametrize("num_sources", [1, 3])
@pytest.mark.parametrize("cut_top", [0, 150], ids=["whole-photo", "crop-past-the-edge"])
def test_a_still_driver_gives_the_photo_back(gated_model, face_photo, num_sources, cut_top):
    """A real photo, also cut so that the face crop reaches past its top edge, driven by itself for a
    few frames (relative motion, paste-back): 38 dB or more over the whole frame and the crop."""
    photo = load_image(face_photo)[cut_top:]
    options = AnimateOptions(batch_size=2, device="cpu", face_backend="dlib", paste_back=True)
    animator = Animator(gated_model, options)
    sources = animator.sources_from_images([photo] * num_sources, ["photo"] * num_sources)
    if cut_top:
        assert sources.box is not None and sources.box.y0 < 0  # the crop does reach past the edge
    batches = list(animator.animate(sources, lambda: iter([photo] * 4), "still"))
    frames = np.concatenate([batch.frames for batch in batches])
    crops = np.concatenate([batch.results for batch in batches])
    assert len(frames) == 4
    assert min(_psnr(frame, photo) for frame in frames) >= 38
    assert min(_psnr(crop, sources.crops[0]) for crop in crops) >= 38
