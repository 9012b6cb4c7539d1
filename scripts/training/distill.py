"""Distil a fast preset (issue 25): a narrower generator (and keypoint detector) trained to reproduce a
teacher's outputs.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/training/distill.py TEACHER.safetensors --data data/train-256 \
        --out runs/distill [--generator-channels 8] [--keypoint-channels 8] [--steps 3000] [--resume]

The student is the teacher with `generator_channels` narrowed (16 -> 8 by default: the generator,
3.05 of the teacher's 4.19 GFLOP a frame, falls to about 0.9, the frame to about 2.1). Everything
else (keypoints, encoders, the warp and its priors) is the teacher's, copied and frozen, so the
student warps exactly as the teacher does: identity, standing still and the mouth's geometry are
kept by construction. The student's generator starts from the teacher's first channels of each
layer and is trained on the training split's frames (the dataset's own sampling and augmentation,
no test or dev clip) with the teacher's outputs as targets: L1 on the image over an image pyramid,
and L1 on the blend mask. `--real-weight W` adds W times the L1 to the real driving frame (the
short fine-tune on real frames).

`--keypoint-channels K` (below the teacher's) narrows the keypoint detector's hourglass too. It
starts from the teacher's first channels (for the decoder's convolutions, which read the upsampled
map and the skip side by side, the first channels of each of the two parts) and trains with the
generator: the image and mask losses reach it through the frozen encoders and attention, and
`--keypoint-weight W` adds W times the L1 between the student's keypoints (positions in [-1, 1] and
strengths, driving frames and sources) and the teacher's. The warp is then the teacher's only as
far as the keypoints match. Checkpoints (`OUT/student_XXXXXXXX.safetensors`, the config in the
metadata, loadable by `tiw animate --weights`) every `--checkpoint-every` steps and at the end;
`OUT/state.pt` holds the optimiser for `--resume`; `OUT/log.jsonl` the losses. SIGTERM stops after
the current step with a checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from tiwcli.checkpoint import load_model, save_model
from tiwcli.dataset.layout import list_clips
from tiwcli.models import ImplicitWarping
from tiwcli.models.keypoints import Keypoints
from tiwcli.training.data import ClipStore, TrainBatches

PYRAMID = (1.0, 0.5, 0.25, 0.125)


def narrowed(
    teacher: ImplicitWarping, channels: int, keypoint_channels: int | None = None
) -> ImplicitWarping:
    """The teacher with `generator_channels` = `channels` (and `keypoint_channels`, when given);
    every tensor copied, cut to its first channels along each axis that shrank."""
    config = dataclasses.replace(
        teacher.config,
        generator_channels=channels,
        keypoint_channels=keypoint_channels or teacher.config.keypoint_channels,
    )
    student = ImplicitWarping(config)
    source = teacher.state_dict()
    state = {}
    for name, tensor in student.state_dict().items():
        taught = source[name]
        index = [slice(0, size) for size in tensor.shape]
        widths = _concatenated_inputs(name, teacher, student)
        if widths is not None:  # an hourglass decoder conv: (upsampled, skip) channels side by side
            taught_up, up, skip = widths
            index[1] = torch.cat([torch.arange(up), taught_up + torch.arange(skip)])
        state[name] = taught[tuple(index)].clone()
    student.load_state_dict(state)
    return student


def _concatenated_inputs(
    name: str, teacher: ImplicitWarping, student: ImplicitWarping
) -> tuple[int, int, int] | None:
    """For the keypoint hourglass's decoder convolutions (`hourglass.up.J.0.weight`): the teacher's
    upsampled input width, then the student's upsampled and skip widths; None for every other tensor."""
    prefix = "keypoint_detector.hourglass.up."
    if not (name.startswith(prefix) and name.endswith(".0.weight")):
        return None
    taught = teacher.keypoint_detector.hourglass.widths
    widths = student.keypoint_detector.hourglass.widths
    if taught == widths:
        return None
    level = len(widths) - 2 - int(name[len(prefix) :].split(".")[0])  # up[0] reads the deepest level
    return taught[level + 1], widths[level + 1], widths[level]


def keypoint_l1(student: Keypoints, teacher: Keypoints) -> torch.Tensor:
    """Mean L1 of positions (in [-1, 1]) and strengths."""
    return (student.positions - teacher.positions).abs().mean() + (
        student.strengths - teacher.strengths
    ).abs().mean()


def pyramid_l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss = output.new_zeros(())
    for scale in PYRAMID:
        a = output if scale == 1.0 else F.interpolate(output, scale_factor=scale, mode="area")
        b = target if scale == 1.0 else F.interpolate(target, scale_factor=scale, mode="area")
        loss = loss + (a - b).abs().mean()
    return loss / len(PYRAMID)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--generator-channels", type=int, default=8)
    parser.add_argument("--keypoint-channels", type=int, default=None)
    parser.add_argument("--keypoint-weight", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-sources", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--real-weight", type=float, default=0.0)
    parser.add_argument("--mask-weight", type=float, default=1.0)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    teacher = load_model(args.teacher).eval().requires_grad_(False)
    teaching = teacher.config
    narrow_keypoints = args.keypoint_channels is not None
    if narrow_keypoints and args.keypoint_channels >= teaching.keypoint_channels:
        parser.error(f"--keypoint-channels must be below the teacher's {teaching.keypoint_channels}")
    if args.generator_channels > teaching.generator_channels or (
        args.generator_channels == teaching.generator_channels and not narrow_keypoints
    ):
        parser.error(f"--generator-channels must be below the teacher's {teaching.generator_channels}")
    student = narrowed(teacher, args.generator_channels, args.keypoint_channels)
    student.requires_grad_(False)
    trained = [student.generator] + ([student.keypoint_detector] if narrow_keypoints else [])
    for part in trained:
        part.requires_grad_(True)
    student.eval()  # no source dropout: the student sees what the teacher sees (the generator and
    # the keypoint detector have no layer that trains differently)
    parameters = [p for part in trained for p in part.parameters()]
    optimiser = torch.optim.Adam(parameters, lr=args.lr, betas=(0.9, 0.999))
    args.out.mkdir(parents=True, exist_ok=True)
    state_path = args.out / "state.pt"
    step = 0
    if args.resume and state_path.exists():
        state = torch.load(state_path, weights_only=True)
        student.generator.load_state_dict(state["generator"])
        if narrow_keypoints:
            student.keypoint_detector.load_state_dict(state["keypoint_detector"])
        optimiser.load_state_dict(state["optimiser"])
        step = int(state["step"])
        print(f"resumed at step {step}", flush=True)

    size = teacher.config.image_size
    store = ClipStore(list_clips(args.data, "train"), size, min_frames=args.max_sources + 1)
    batches = TrainBatches(
        store, args.batch_size, args.max_sources, seed=args.seed, mouth_pair_probability=0.3
    )
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))

    def save() -> None:
        path = args.out / f"student_{step:08d}.safetensors"
        save_model(path, student, {"derived_from": f"{args.teacher.name}, distilled {step} steps"})
        state = {
            "generator": student.generator.state_dict(),
            "optimiser": optimiser.state_dict(),
            "step": step,
        }
        if narrow_keypoints:
            state["keypoint_detector"] = student.keypoint_detector.state_dict()
        torch.save(state, state_path)
        print(f"saved {path}", flush=True)

    log = (args.out / "log.jsonl").open("a")
    started = time.time()
    while step < args.steps and not stop["now"]:
        batch = batches[step]
        with torch.no_grad():
            taught = teacher(
                batch.sources,
                batch.driving,
                source_landmarks=batch.source_landmarks,
                driving_landmarks=batch.driving_landmarks,
            )
        out = student(
            batch.sources,
            batch.driving,
            source_landmarks=batch.source_landmarks,
            driving_landmarks=batch.driving_landmarks,
        )
        image_loss = pyramid_l1(out.image, taught.image)
        mask_loss = (out.mask - taught.mask).abs().mean()
        loss = image_loss + args.mask_weight * mask_loss
        keypoint_loss = None
        if narrow_keypoints:
            keypoint_loss = keypoint_l1(out.driving_keypoints, taught.driving_keypoints) + keypoint_l1(
                out.source_keypoints, taught.source_keypoints
            )
            loss = loss + args.keypoint_weight * keypoint_loss
        if args.real_weight > 0:
            loss = loss + args.real_weight * pyramid_l1(out.image, batch.driving)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        if step % 20 == 0:
            entry = {
                "step": step,
                "image_l1": round(image_loss.item(), 6),
                "mask_l1": round(mask_loss.item(), 6),
                **({} if keypoint_loss is None else {"keypoint_l1": round(keypoint_loss.item(), 6)}),
                "seconds": round(time.time() - started, 1),
            }
            log.write(json.dumps(entry) + "\n")
            log.flush()
        if step % args.checkpoint_every == 0:
            save()
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
