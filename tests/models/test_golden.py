"""The tiny preset against committed reference outputs on real face frames.

A failure means the model's arithmetic changed. If that was on purpose,
regenerate with `python scripts/maintenance/make_golden.py` and say so in CHANGELOG.md.
"""

from pathlib import Path

import torch

from tiwcli.checkpoint import load_tensors
from tiwcli.config import ModelConfig
from tiwcli.models import ImplicitWarping

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "tiny_golden.safetensors"


def test_tiny_model_reproduces_reference_output():
    tensors, metadata = load_tensors(GOLDEN)
    model = ImplicitWarping(ModelConfig.from_json(metadata["config"])).eval()
    weights = {name.removeprefix("model."): t for name, t in tensors.items() if name.startswith("model.")}
    model.load_state_dict(weights, strict=True)
    with torch.inference_mode():
        output = model.animate(
            model.encode_sources(tensors["sources"]), model.keypoint_detector(tensors["driving"])
        )
    assert output.shape == tensors["output"].shape
    assert torch.allclose(output, tensors["output"], atol=1e-4), float(
        (output - tensors["output"]).abs().max()
    )
    # the reference is not trivial: real, distinct frames give distinct outputs
    assert (tensors["output"][0] - tensors["output"][1]).abs().mean() > 1e-4
