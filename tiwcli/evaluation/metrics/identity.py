"""AED: does the generated face keep the identity?

Per frame, the Euclidean distance between the 128-d dlib ResNet identity
embeddings (`FaceAnalyzer.embedding`) of the generated face and of the reference
face; averaged over the frames where both have a face. The reference is the real
frame in reconstruction, and the source image in cross-identity animation.
(dlib's own rule of thumb: two faces of one person are usually closer than 0.6.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def aed_per_frame(pred: Sequence[np.ndarray | None], reference: Sequence[np.ndarray | None]) -> np.ndarray:
    """Embedding distance per frame; NaN where either frame has no face: (b,)."""
    values = np.full(len(reference), np.nan)
    for index, (pred_embedding, reference_embedding) in enumerate(zip(pred, reference, strict=True)):
        if pred_embedding is not None and reference_embedding is not None:
            values[index] = float(np.linalg.norm(pred_embedding - reference_embedding))
    return values
