"""Copy a checkpoint with the landmark prior of a preset switched on (the weights unchanged).

    .venv/bin/python scripts/training/with_landmark_prior.py IN.safetensors OUT.safetensors \
        [--preset landmark-256] [--full-resolution-spline] [--motion-gate S] [--mouth-mask-logit L] \
        [--warp-interpolation bicubic] [--spline-smoothing R] [--mouth-spline K] \
        [--source-blend-power P] [--source-detail-power D] [--source-detail-sigma S] [--spline-step N]

The attention priors own no weights (`ModelConfig.same_weights_as`), so weights trained with
the plain locality prior load into the same architecture with the landmark flow prior and
source selection on. This is how weights/tiw-landmark-256.safetensors was made from
tiw-warp-256's weights; see weights/README.md for what it measured. --full-resolution-spline also
switches on `ModelConfig.landmark_flow_full_resolution` (the spline read at full resolution in the
warp; no weights either): that is how the shipped file was made from stage 2's checkpoint.
--motion-gate and --mouth-mask-logit set `ModelConfig.motion_gate` and `mouth_mask_logit` (no
weights either; models/motion_gate.py, models/mouth_prior.py): the start of the expressions run.
--spline-smoothing sets `ModelConfig.landmark_flow_smoothing`, the ridge of the landmark spline
(benchmarks/expressions/RULE.md, seventh rule); default: the preset's. --mouth-spline sets
`ModelConfig.mouth_spline` (models/mouth_spline.py; RULE.md, eighth rule); default 0 (off).
--source-blend-power sets `ModelConfig.source_blend_power` (models/full_resolution_warp.py); default 1.
--source-detail-power sets `ModelConfig.source_detail_power` (the same file); default 0 (off).
--source-detail-sigma sets `ModelConfig.source_detail_sigma` (the detail band; RULE.md, nineteenth rule);
default 2.
--spline-step sets `ModelConfig.landmark_flow_spline_step` (models/landmark_prior.py); default 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from tiwcli.checkpoint import load_model, read_model_file, save_model
from tiwcli.config import model_preset
from tiwcli.models import ImplicitWarping


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--preset", default="landmark-256")
    parser.add_argument("--full-resolution-spline", action="store_true")
    parser.add_argument("--motion-gate", type=float, default=0.0, help="motion gate scale (0 = off)")
    parser.add_argument("--mouth-mask-logit", type=float, default=0.0, help="mouth prior (0 = off)")
    parser.add_argument("--warp-interpolation", default="bilinear", choices=("bilinear", "bicubic"))
    parser.add_argument(
        "--spline-smoothing", type=float, default=None, help="the spline's ridge (default: preset's)"
    )
    parser.add_argument(
        "--mouth-spline", type=float, default=0.0, help="the lips follow the spline: ellipse growth (0 = off)"
    )
    parser.add_argument(
        "--source-blend-power", type=float, default=1.0, help="sources blended by mass**P (1 = as is)"
    )
    parser.add_argument(
        "--source-detail-power", type=float, default=0.0, help="detail blended by mass**D (0 = off)"
    )
    parser.add_argument(
        "--source-detail-sigma",
        type=float,
        default=2.0,
        help="the detail band's Gaussian, px at 256 (2 = as is)",
    )
    parser.add_argument(
        "--spline-step", type=int, default=2, help="the spline base read every N pixels (2 = as is)"
    )
    args = parser.parse_args(argv)
    model = load_model(args.weights)
    config = model_preset(args.preset)
    if args.full_resolution_spline:
        config = dataclasses.replace(config, landmark_flow_full_resolution=True)
    config = dataclasses.replace(
        config,
        motion_gate=args.motion_gate,
        mouth_mask_logit=args.mouth_mask_logit,
        warp_interpolation=args.warp_interpolation,
        mouth_spline=args.mouth_spline,
        source_blend_power=args.source_blend_power,
        source_detail_power=args.source_detail_power,
        source_detail_sigma=args.source_detail_sigma,
        landmark_flow_spline_step=args.spline_step,
    )
    if args.spline_smoothing is not None:
        config = dataclasses.replace(config, landmark_flow_smoothing=args.spline_smoothing)
    if not config.same_weights_as(model.config):
        print(f"error: {args.weights} is not of preset {args.preset}'s architecture", file=sys.stderr)
        return 1
    target = ImplicitWarping(config)
    target.load_state_dict(model.state_dict(), strict=True)
    _, _, metadata = read_model_file(args.weights)
    kept = {key: value for key, value in metadata.items() if key not in ("format", "config", "tiw_version")}
    save_model(args.out, target, {**kept, "derived_from": args.weights.name})
    print(f"wrote {args.out} (preset {args.preset}, weights of {args.weights.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
