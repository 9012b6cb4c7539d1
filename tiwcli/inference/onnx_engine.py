"""The ONNX engine (issue 25): a file of `onnx_export.py` run by ONNX Runtime, with the calls
`Animator` makes of the torch model (`config`, `to`, `eval`, `keypoint_detector`, `encode_sources`,
`animate`), taking and returning the same tensors and records, so that it can stand in for it.

Each graph of the file runs as its own session (split off with `onnx.utils.Extractor`). The one
step the graphs leave out, the landmark prior's spline solve, is done here in torch, as the model
does it (`thin_plate_spline`), and fed to the render graph.

A landmark-prior model renders with landmarks only (NaN where there is no face), as Animator always
gives them; an encoding of a batch of sources (b > 1, video editing) is rendered frame by frame.

Shape letters: b batch (driving frames), n sources, k keypoints, H image side, m keys, e packed width.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from tiwcli.choices import check_choice
from tiwcli.config import ModelConfig
from tiwcli.errors import InputError
from tiwcli.inference.onnx_export import (
    KEYPOINTS,
    ONNX_FORMAT,
    RENDER,
    SOURCES,
    SPLINE_INPUTS,
    read_metadata,
    read_parts,
    require_onnx,
)
from tiwcli.models import Keypoints, SourceEncoding
from tiwcli.models.landmark_prior import thin_plate_spline

if TYPE_CHECKING:
    import onnx
    import onnxruntime

GraphOptimization = Literal["disabled", "basic", "extended", "all"]  # ONNX Runtime's levels


@dataclass(frozen=True)
class SessionConfig:
    threads: int = 0  # ONNX Runtime's intra-op threads; 0 = its default (one per physical core)
    optimization: GraphOptimization = "all"  # graph optimisation level
    providers: tuple[str, ...] = ("CPUExecutionProvider",)  # e.g. CUDAExecutionProvider first

    def __post_init__(self) -> None:
        check_choice(self.optimization, GraphOptimization, "graph optimisation level")
        if self.threads < 0:
            raise InputError(f"threads must be 0 (ONNX Runtime's default) or more, not {self.threads}")


class OnnxEngine:
    """An exported file run by ONNX Runtime in place of the torch model (fp32 always; returned
    tensors go to the device given to `to`)."""

    def __init__(self, path: Path | str, session: SessionConfig | None = None) -> None:
        require_onnx(runtime_only=True)
        self.path = Path(path)
        self.session_config = session or SessionConfig()
        model = _load_export(self.path)
        metadata = read_metadata(model)
        self.config = ModelConfig.from_json(metadata["config"])
        self.num_sources = None if metadata["num_sources"] == "any" else int(metadata["num_sources"])
        self.device = torch.device("cpu")
        self._sessions = {
            name: self._session(model, io["inputs"], io["outputs"])
            for name, io in read_parts(metadata).items()
        }

    def _session(
        self, model: onnx.ModelProto, inputs: list[str], outputs: list[str]
    ) -> onnxruntime.InferenceSession:
        import onnx.utils
        import onnxruntime

        levels = {
            "disabled": onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = levels[self.session_config.optimization]
        options.intra_op_num_threads = self.session_config.threads
        options.inter_op_num_threads = 1  # the graphs are chains: nothing would run beside a node
        options.log_severity_level = 3  # errors only, not its notes on the graph
        part = onnx.utils.Extractor(model).extract_model(inputs, outputs)
        providers = list(self.session_config.providers)
        return onnxruntime.InferenceSession(part.SerializeToString(), options, providers=providers)

    def to(self, device: torch.device | str) -> OnnxEngine:
        """Where the returned tensors go (the graphs run where the session's providers say)."""
        self.device = torch.device(device)
        return self

    def eval(self) -> OnnxEngine:
        return self

    def _run(self, part: str, feeds: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        arrays = {name: _array(tensor) for name, tensor in feeds.items()}
        results = self._sessions[part].run(None, arrays)
        return [torch.from_numpy(result).to(self.device) for result in results]

    def keypoint_detector(self, images: torch.Tensor) -> Keypoints:
        """images (b, 3, H, W) in [0, 1] -> keypoints (b, k, 2), (b, k)."""
        positions, strengths = self._run(KEYPOINTS, {"images": images})
        return Keypoints(positions=positions, strengths=strengths)

    def encode_sources(self, sources: torch.Tensor, landmarks: torch.Tensor | None = None) -> SourceEncoding:
        """As `ImplicitWarping.encode_sources`: sources (b, n, 3, H, W) in [0, 1] [and landmarks
        (b, n, 68, 2), kept for the landmark prior]."""
        count = sources.shape[1]
        if self.num_sources is not None and count != self.num_sources:
            raise InputError(
                f"{self.path}: exported for {self.num_sources} source(s), given {count}: "
                f"export again with --sources {count}"
            )
        positions, strengths, keys, packed = self._run(SOURCES, {"sources": sources})
        keep = self.config.uses_landmarks and landmarks is not None
        return SourceEncoding(
            keypoints=Keypoints(positions=positions, strengths=strengths),
            keys=keys,
            packed=packed,
            num_sources=count,
            images=sources.float().to(self.device) if self.config.full_resolution_warp else None,
            landmarks=landmarks.float().to(self.device) if keep else None,  # type: ignore[union-attr]
        )

    def animate(
        self,
        encoding: SourceEncoding,
        driving_keypoints: Keypoints,
        driving_landmarks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """As `ImplicitWarping.animate`: driving keypoints (b, k, 2) [and landmarks (b, 68, 2)] ->
        images (b, 3, H, W) in [0, 1]. An encoding of batch 1 serves any b."""
        sources_batch = encoding.keys.shape[0]
        if sources_batch == 1:
            return self._render(encoding, driving_keypoints, driving_landmarks)
        return torch.cat(
            [
                self._render(
                    _item(encoding, index),
                    driving_keypoints[index : index + 1],
                    None if driving_landmarks is None else driving_landmarks[index : index + 1],
                )
                for index in range(sources_batch)
            ]
        )

    def _render(
        self, encoding: SourceEncoding, driving: Keypoints, driving_landmarks: torch.Tensor | None
    ) -> torch.Tensor:
        config = self.config
        feeds = {
            "keys": encoding.keys,
            "packed": encoding.packed,
            "driving_keypoint_positions": driving.positions,
            "driving_keypoint_strengths": driving.strengths,
        }
        if config.full_resolution_warp:
            feeds["source_images"] = encoding.images  # type: ignore[assignment]
        if config.uses_landmarks:
            if driving_landmarks is None or encoding.landmarks is None:
                raise InputError(
                    f"{self.path}: a landmark-prior model renders with the sources' and the driving "
                    "frames' landmarks (NaN where there is no face); some were not given"
                )
            feeds |= {"source_landmarks": encoding.landmarks, "driving_landmarks": driving_landmarks}
            if config.landmark_flow:  # the solve ONNX has no op for, in torch as the model does it
                batch = driving.positions.shape[0]
                spline = thin_plate_spline(
                    driving_landmarks.detach().float().cpu(),
                    encoding.landmarks.detach().float().cpu().expand(batch, -1, -1, -1),
                    config.landmark_flow_smoothing,
                )
                feeds |= dict(zip(SPLINE_INPUTS, spline.tensors, strict=True))
        (images,) = self._run(RENDER, feeds)
        return images


def _item(encoding: SourceEncoding, index: int) -> SourceEncoding:
    """Item `index` of an encoding's batch, as a batch of 1."""

    def item(tensor: torch.Tensor | None) -> torch.Tensor | None:
        return None if tensor is None else tensor[index : index + 1]

    return SourceEncoding(
        keypoints=encoding.keypoints[index : index + 1],
        keys=encoding.keys[index : index + 1],
        packed=encoding.packed[index : index + 1],
        num_sources=encoding.num_sources,
        images=item(encoding.images),
        landmarks=item(encoding.landmarks),
    )


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as ONNX Runtime reads it: on the CPU, contiguous, float32 (bool as it is)."""
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point():
        tensor = tensor.float()
    return np.ascontiguousarray(tensor.numpy())


def _load_export(path: Path) -> onnx.ModelProto:
    """The file, checked to be a tiw export: one-line InputErrors for a missing or foreign file."""
    import onnx
    from google.protobuf.message import DecodeError

    if not path.is_file():
        raise InputError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(os.fspath(path))
    except (DecodeError, OSError) as error:
        raise InputError(f"{path}: not a readable ONNX file ({error.__class__.__name__})") from None
    metadata = read_metadata(model)
    if metadata.get("tiw_format") != ONNX_FORMAT or "parts" not in metadata or "config" not in metadata:
        raise InputError(f"{path}: not an ONNX export of tiw (format {metadata.get('tiw_format')!r})")
    return model
