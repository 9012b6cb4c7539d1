"""Implicit Warping, one paper component per file (the generator only: the discriminator is
training's, tiwcli/training/discriminator.py).

keypoints.py            1. keypoint detector: K keypoints + one strength each
heatmaps.py             2. strength-scaled Gaussian heatmaps
keypoint_encoder.py     3. query UNet (driving) and key UNet (source heatmaps + image)
source_encoder.py       4. source encoder -> values
positional_encoding.py     Fourier positional encoding added to queries and keys
attention.py               the one attention function (scaled_dot_product_attention)
warper.py               5. cross-modal attention warper (+ residual MLP, extra K/V, dropout)
locality_prior.py          (ours, opt-in) Gaussian locality bias on the logits: identity warp at init
landmark_prior.py          (ours, opt-in) the locality bias centred on face landmarks' motion,
                           and source selection by landmark distance
full_resolution_warp.py    (ours, opt-in) flows + masses read off the attention, full-res warp, blend
motion_gate.py             (ours, opt-in) departures, source blend and painting only where the landmarks move
mouth_prior.py             (ours, opt-in) the blend mask hands an opened mouth to the generator
generator.py            6. generator: warped feature -> RGB (+ blend mask with the full-res warp)
implicit_warping.py        the composition, with source encodings computed once
layers.py                  shared building blocks (conv blocks, UNet)
"""

from tiwcli.models.implicit_warping import AnimationOutput, ImplicitWarping, SourceEncoding
from tiwcli.models.keypoints import KeypointDetector, Keypoints

__all__ = ["AnimationOutput", "ImplicitWarping", "KeypointDetector", "Keypoints", "SourceEncoding"]
