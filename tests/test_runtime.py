"""tiwcli.runtime: one device resolution and one autocast, the same for animate and eval."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiwcli import runtime
from tiwcli.errors import InputError
from tiwcli.evaluation.baselines import DrivingFrames
from tiwcli.evaluation.protocols import ModelMethod
from tiwcli.evaluation.report import EvalSettings
from tiwcli.inference.animator import Animator
from tiwcli.inference.options import AnimateOptions, Sources
from tiwcli.models import ImplicitWarping


def test_device_names():
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    assert runtime.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="unknown device 'gpu'"):
        runtime.resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            runtime.resolve_device("cuda:0")


def test_precision_per_device():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert (
        runtime.autocast_dtype(cpu, "auto") is None and runtime.autocast_dtype(cuda, "auto") == torch.bfloat16
    )
    assert (
        runtime.autocast_dtype(cuda, "fp16") == torch.float16 and runtime.autocast_dtype(cpu, "fp16") is None
    )
    assert runtime.autocast_dtype(cpu, "bf16") == torch.bfloat16
    assert runtime.autocast_dtype(cuda, "fp32") is None
    with pytest.raises(InputError, match="unknown precision"):
        runtime.autocast_dtype(cpu, "fp8")  # type: ignore[arg-type]


def test_eval_and_animate_run_the_model_with_the_same_precision(tiny_config, monkeypatch):
    """`tiw eval` scores the model as `tiw animate` runs it: same autocast on the same device
    (before, eval ran fp32 on CUDA while animate ran bf16)."""
    calls: dict[str, set] = {"animate": set(), "eval": set()}

    def spy(name):
        def autocast(device, precision="auto"):
            calls[name].add((device.type, runtime.autocast_dtype(device, precision)))
            return runtime.autocast(device, precision)

        return autocast

    monkeypatch.setattr("tiwcli.inference.animator.autocast", spy("animate"))
    monkeypatch.setattr("tiwcli.evaluation.protocols.autocast", spy("eval"))
    model = ImplicitWarping(tiny_config).eval()
    size = tiny_config.image_size
    rng = np.random.default_rng(0)
    sources = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    driving = rng.integers(0, 256, (2, size, size, 3), dtype=np.uint8)

    animator = Animator(model, AnimateOptions(device="cpu", crop=False))
    encoding = animator.encode_sources(Sources(crops=sources, frame_indices=(0,)))
    animator.animate_crops(encoding, driving, None)
    method = ModelMethod(model, precision=EvalSettings(metrics=("l1",)).precision)
    method.prepare(sources, np.array([0]))
    method.render(DrivingFrames(frames=driving, times=np.array([1, 2]), landmarks=None))

    assert calls["animate"] and calls["animate"] == calls["eval"]
    cuda = torch.device("cuda")  # what the defaults mean on a GPU, whether or not this machine has one
    animate_dtype = runtime.autocast_dtype(cuda, AnimateOptions().precision)
    assert (
        animate_dtype
        == runtime.autocast_dtype(cuda, EvalSettings(metrics=("l1",)).precision)
        == torch.bfloat16
    )
