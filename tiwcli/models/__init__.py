"""Implicit Warping, one paper component per file.

keypoints.py            1. keypoint detector: K keypoints + one strength each
heatmaps.py             2. strength-scaled Gaussian heatmaps
keypoint_encoder.py     3. query UNet (driving) and key UNet (source heatmaps + image)
source_encoder.py       4. source encoder -> values
positional_encoding.py     Fourier positional encoding added to queries and keys
attention.py               the one attention function (scaled_dot_product_attention)
warper.py               5. cross-modal attention warper (+ residual MLP, extra K/V, dropout)
generator.py            6. generator: warped feature -> RGB
discriminator.py           multi-scale patch discriminator (training only)
implicit_warping.py        the composition, with source encodings computed once
layers.py                  shared building blocks (conv blocks, UNet)
"""

from tiwcli.models.implicit_warping import AnimationOutput, ImplicitWarping, SourceEncoding
from tiwcli.models.keypoints import KeypointDetector, Keypoints

__all__ = ["AnimationOutput", "ImplicitWarping", "KeypointDetector", "Keypoints", "SourceEncoding"]
