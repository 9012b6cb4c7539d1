"""The model as one ONNX file (issue 25), for the ONNX engine (onnx_engine.py) or any ONNX runtime.

The file holds three graphs side by side, the calls `Animator` makes of the model; weights they
share are stored once, and the metadata names each graph's inputs and outputs:

    keypoints  images (b, 3, H, W)      -> keypoint_positions (b, k, 2), keypoint_strengths (b, k)
    sources    sources (b, n, 3, H, W)  -> source_keypoint_positions, _strengths, source_keys (b, m, d),
                                           source_packed (b, m, e)              once per animation
    render     keys (1, m, d), packed (1, m, e), driving_keypoint_positions, _strengths (b, ...)
               [, source_images (1, n, 3, H, W)]                   with the full-resolution warp
               [, source_landmarks (1, n, 68, 2), driving_landmarks (b, 68, 2)]  landmark prior
               [, spline_controls, _weights (b, n, K, 2), _coefficients (b, n, 3, 2), _known (b, n)]
               -> image (b, 3, H, W)                                             per batch

What stays out of the graphs: the landmark prior's thin-plate spline is a linear solve per frame and
source ((K+3) x (K+3)), and ONNX has no solve; the caller solves it (`thin_plate_spline`, float64 as
the model does) and feeds the solution, which the graph reads at every query cell and pixel
(`spline_at`). Relative motion stays with the caller too, between the keypoints and render graphs.

The batch and the number of sources are dynamic, unless the export fixes the sources: a model with
the locality prior and no landmark prior needs that (its bias is cached per number of sources).

Workarounds the exporter needed (torch 2.13, onnxscript 0.7) are in the model files, with the same
results: `F.one_hot` fixed the number of sources (motion_gate.py compares with an arange instead),
and `repeat_interleave` by a dynamic count exported wrongly (full_resolution_warp.py uses einops).

Shape letters: b batch (driving frames), n sources, k keypoints, H image side, m keys (extras +
sources' entries), d key width, e packed width, K spline control points (68 landmarks + 8 border).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from tiwcli import __version__
from tiwcli.config import ModelConfig
from tiwcli.errors import InputError
from tiwcli.models import ImplicitWarping, Keypoints, SourceEncoding
from tiwcli.models.landmark_prior import ThinPlateSpline, thin_plate_spline

if TYPE_CHECKING:
    import onnx

ONNX_FORMAT = "tiw-onnx-v1"  # the `tiw_format` entry of the file's metadata
OPSET = 18  # Resize's antialias (the detector's and key encoder's downsampling) needs opset 18
KEYPOINTS, SOURCES, RENDER = "keypoints", "sources", "render"  # the graphs
SPLINE_INPUTS = ("spline_controls", "spline_weights", "spline_coefficients", "spline_known")


@dataclass(frozen=True)
class OnnxExport:
    """What `export_onnx` wrote."""

    path: Path
    size_bytes: int
    num_sources: int | None  # None: any number
    opset: int
    parts: tuple[str, ...]  # the graphs in the file


def require_onnx(runtime_only: bool = False) -> None:
    """A one-line InputError naming the packages to install when the `onnx` extra is missing."""
    needed = ("onnx", "onnxruntime") if runtime_only else ("onnx", "onnxscript", "onnxruntime")
    missing = [name for name in needed if not _importable(name)]
    if missing:
        raise InputError(
            f"the ONNX engine needs {', '.join(missing)}, not installed here: "
            f"pip install {' '.join(missing)} (or pip install 'tiw[onnx]')"
        )


def _importable(name: str) -> bool:
    import importlib

    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def check_exportable(config: ModelConfig, num_sources: int | None) -> None:
    """A one-line InputError for what cannot be exported: the locality prior without the landmark
    prior reads a bias cached per number of sources, which a dynamic number cannot trace."""
    if num_sources is None and config.locality_sigma > 0 and not config.uses_landmarks:
        raise InputError(
            "this model's locality prior (without the landmark prior) needs a fixed number of "
            "sources: export with --sources N"
        )


def render_inputs(config: ModelConfig) -> tuple[str, ...]:
    """The render graph's inputs for a model config, in order."""
    names = ["keys", "packed", "driving_keypoint_positions", "driving_keypoint_strengths"]
    if config.full_resolution_warp:
        names.append("source_images")
    if config.uses_landmarks:
        names += ["source_landmarks", "driving_landmarks"]
    if config.landmark_flow:
        names += SPLINE_INPUTS
    return tuple(names)


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {entry.key: entry.value for entry in model.metadata_props}


def read_parts(metadata: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """Each graph's inputs and outputs: {name: {"inputs": [...], "outputs": [...]}}."""
    return json.loads(metadata["parts"])


# the graphs, as modules torch.onnx.export traces


class _KeypointsGraph(nn.Module):
    """images (b, 3, H, W) in [0, 1] -> keypoints (b, k, 2), strengths (b, k)."""

    def __init__(self, model: ImplicitWarping) -> None:
        super().__init__()
        self.detector = model.keypoint_detector

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keypoints = self.detector(images)
        return keypoints.positions, keypoints.strengths


class _SourcesGraph(nn.Module):
    """sources (b, n, 3, H, W) -> keypoints (b, n, k, 2), (b, n, k), keys (b, m, d), packed (b, m, e)."""

    def __init__(self, model: ImplicitWarping) -> None:
        super().__init__()
        self.model = model

    def forward(self, sources: torch.Tensor) -> tuple[torch.Tensor, ...]:
        encoding = self.model.encode_sources(sources)
        keypoints = encoding.keypoints
        return keypoints.positions, keypoints.strengths, encoding.keys, encoding.packed


class _RenderGraph(nn.Module):
    """`ImplicitWarping.render` of one animation's encoding (batch 1, expanded here to the driving
    batch b) and driving keypoints; the inputs are named by `render_inputs`."""

    def __init__(self, model: ImplicitWarping, num_sources: int | None) -> None:
        super().__init__()
        self.model = model
        self.inputs = render_inputs(model.config)
        self.num_sources = num_sources

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        given = dict(zip(self.inputs, tensors, strict=True))
        batch = given["driving_keypoint_positions"].shape[0]

        def batched(name: str) -> torch.Tensor | None:  # (1, ...) -> (b, ...)
            tensor = given.get(name)
            return None if tensor is None else tensor.expand(batch, *tensor.shape[1:])

        config = self.model.config
        num_sources = self.num_sources
        if num_sources is None:  # dynamic: m = extras + n * entries per source
            entries = (config.feature_size // config.attention_reduction) ** 2
            num_sources = (given["keys"].shape[1] - config.extra_key_values) // entries
        empty = given["keys"][:, :0, 0]  # render reads no source keypoints
        encoding = SourceEncoding(
            keypoints=Keypoints(positions=empty, strengths=empty),
            keys=batched("keys"),  # type: ignore[arg-type]
            packed=batched("packed"),  # type: ignore[arg-type]
            num_sources=num_sources,
            images=batched("source_images"),
            landmarks=batched("source_landmarks"),
        )
        spline = None
        if config.landmark_flow:
            spline = ThinPlateSpline(*(given[name] for name in SPLINE_INPUTS))
        driving = Keypoints(given["driving_keypoint_positions"], given["driving_keypoint_strengths"])
        landmarks = given.get("driving_landmarks")
        return self.model.render(encoding, driving, driving_landmarks=landmarks, spline=spline).image


# export


def export_onnx(
    model: ImplicitWarping, path: Path, num_sources: int | None = None, overwrite: bool = False
) -> OnnxExport:
    """Write `model` as one ONNX file (see the module's docstring), atomically: a temporary sibling
    renamed into place, never a half-written file. `num_sources`: fix the number of sources
    (None: any number)."""
    from tiwcli.io.files import move_into_place, remove_stale_temporaries, temporary_sibling, write_error

    require_onnx()
    proto = onnx_model(model, num_sources)
    remove_stale_temporaries(path.parent)
    temporary = temporary_sibling(path)
    try:
        temporary.write_bytes(proto.SerializeToString())
        move_into_place(temporary, path, overwrite)
    except OSError as error:
        raise write_error(path, error) from None
    finally:
        temporary.unlink(missing_ok=True)
    parts = tuple(read_parts(read_metadata(proto)))
    return OnnxExport(path, path.stat().st_size, num_sources, OPSET, parts)


def onnx_model(model: ImplicitWarping, num_sources: int | None = None) -> onnx.ModelProto:
    """The three graphs of `model` (a copy of it, on the CPU in eval mode) in one ONNX model, with
    the config and each graph's inputs and outputs in its metadata."""
    from tiwcli.models.locality_prior import locality_bias

    check_exportable(model.config, num_sources)
    require_onnx()
    model = copy.deepcopy(model).to("cpu").eval()
    try:
        parts = {
            KEYPOINTS: _export_keypoints(model),
            SOURCES: _export_sources(model, num_sources),
            RENDER: _export_render(model, num_sources),
        }
    finally:
        locality_bias.cache_clear()  # tracing may have cached a traced (fake) tensor in it
    return _union(parts, model.config, num_sources)


def _export_keypoints(model: ImplicitWarping) -> onnx.ModelProto:
    size = model.config.image_size
    examples = (torch.rand(2, 3, size, size),)  # sizes of 2: torch.export takes 0 and 1 as fixed
    outputs = ["keypoint_positions", "keypoint_strengths"]
    return _export(_KeypointsGraph(model), examples, ["images"], outputs, ({0: _dim("batch")},))


def _export_sources(model: ImplicitWarping, num_sources: int | None) -> onnx.ModelProto:
    size = model.config.image_size
    examples = (torch.rand(2, num_sources or 2, 3, size, size),)
    sizes = {0: _dim("source_batch")} | ({} if num_sources else {1: _dim("sources")})
    outputs = ["source_keypoint_positions", "source_keypoint_strengths", "source_keys", "source_packed"]
    return _export(_SourcesGraph(model), examples, ["sources"], outputs, (sizes,))


def _export_render(model: ImplicitWarping, num_sources: int | None) -> onnx.ModelProto:
    config = model.config
    count, size = num_sources or 2, config.image_size
    sources = torch.rand(1, count, 3, size, size)
    with torch.no_grad():
        encoding = model.encode_sources(sources)
        driving = model.keypoint_detector(torch.rand(2, 3, size, size))
    source_landmarks = torch.rand(1, count, 68, 2) - 0.5
    driving_landmarks = torch.rand(2, 68, 2) - 0.5
    spline = thin_plate_spline(
        driving_landmarks, source_landmarks.expand(2, -1, -1, -1), config.landmark_flow_smoothing
    )
    examples = {
        "keys": encoding.keys,
        "packed": encoding.packed,
        "driving_keypoint_positions": driving.positions,
        "driving_keypoint_strengths": driving.strengths,
        "source_images": sources,
        "source_landmarks": source_landmarks,
        "driving_landmarks": driving_landmarks,
        **dict(zip(SPLINE_INPUTS, spline.tensors, strict=True)),
    }
    names = render_inputs(config)
    return _export(
        _RenderGraph(model, num_sources),
        tuple(examples[name] for name in names),
        list(names),
        ["image"],
        (_render_sizes(config, num_sources),),  # one entry: forward's *tensors
    )


def _render_sizes(config: ModelConfig, num_sources: int | None) -> tuple[dict[int, Any], ...]:
    """torch.export's dynamic sizes of the render inputs: b everywhere, n (and the key count m and
    packed width e that grow with it) unless the sources are fixed."""
    batch = _dim("batch")
    by_name: dict[str, dict[int, Any]] = {
        "driving_keypoint_positions": {0: batch},
        "driving_keypoint_strengths": {0: batch},
        "driving_landmarks": {0: batch},
        **{name: {0: batch} for name in SPLINE_INPUTS},
    }
    if num_sources is None:
        sources = _dim("sources")
        keys = sources * (config.feature_size // config.attention_reduction) ** 2 + config.extra_key_values
        width = config.value_dim + 3 + config.key_dim  # + (x, y) and a one-hot per source with the warp
        packed = {1: keys, 2: sources * 3 + width} if config.full_resolution_warp else {1: keys}
        by_name |= {"keys": {1: keys}, "packed": packed}
        by_name |= {"source_images": {1: sources}, "source_landmarks": {1: sources}}
        by_name |= {name: {0: batch, 1: sources} for name in SPLINE_INPUTS}
    return tuple(by_name.get(name, {}) for name in render_inputs(config))


def _dim(name: str) -> Any:
    return torch.export.Dim(name, min=1)


def _export(
    graph: nn.Module, examples: tuple, inputs: list[str], outputs: list[str], sizes: tuple
) -> onnx.ModelProto:
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            graph.eval(),
            examples,
            dynamo=True,
            opset_version=OPSET,
            input_names=inputs,
            output_names=outputs,
            dynamic_shapes=sizes,
            verbose=False,
        )
    return program.model_proto


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's notes (torchvision missing, axis names, deprecations) are not the user's
    concern: `tiw export` says in one line what it wrote."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _union(
    parts: dict[str, onnx.ModelProto], config: ModelConfig, num_sources: int | None
) -> onnx.ModelProto:
    """The parts side by side in one graph: their inner names prefixed by the part, their inputs and
    outputs kept, and equal initializers (the weights parts share) stored once."""
    import onnx
    from onnx import compose, helper

    prefixed = [
        compose.add_prefix(part, f"{name}/", rename_inputs=False, rename_outputs=False)
        for name, part in parts.items()
    ]
    nodes, inputs, outputs, value_infos = [], [], [], []
    initializers: dict[bytes, onnx.TensorProto] = {}  # by contents: the first of equal ones
    renamed: dict[str, str] = {}
    for part in prefixed:
        for tensor in part.graph.initializer:
            kept = initializers.setdefault(_contents(tensor), tensor)
            renamed[tensor.name] = kept.name
        nodes += part.graph.node
        inputs += part.graph.input
        outputs += part.graph.output
        value_infos += part.graph.value_info
    for node in nodes:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    graph = helper.make_graph(nodes, "tiw", inputs, outputs, list(initializers.values()))
    graph.value_info.extend(value_infos)
    first = prefixed[0]
    model = helper.make_model(graph, opset_imports=first.opset_import, producer_name="tiw")
    model.ir_version = first.ir_version
    model.functions.extend(function for part in prefixed for function in part.functions)
    io = {
        name: {"inputs": [v.name for v in part.graph.input], "outputs": [v.name for v in part.graph.output]}
        for name, part in parts.items()
    }
    helper.set_model_props(
        model,
        {
            "tiw_format": ONNX_FORMAT,
            "tiw_version": __version__,
            "config": config.to_json(),
            "num_sources": "any" if num_sources is None else str(num_sources),
            "parts": json.dumps(io),
        },
    )
    onnx.checker.check_model(model)
    return model


def _contents(tensor: onnx.TensorProto) -> bytes:
    """A digest of a tensor's type, shape and values (not its name)."""
    unnamed = type(tensor)()
    unnamed.CopyFrom(tensor)
    unnamed.name = ""
    return hashlib.sha256(unnamed.SerializeToString()).digest()
