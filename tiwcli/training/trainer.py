"""One training step: the networks, their optimisers, the learning rate and the seeding.

One step = one generator update (all generator-side losses, see losses.py) then one
discriminator update (hinge). Adam with betas (0.5, 0.999) for both networks, as in FOMM /
face-vid2vid (a low beta1 keeps the GAN game stable); linear warmup, then cosine decay to
`min_lr_ratio` of the peak; each network's global gradient norm clipped; autocast from
`tiwcli.runtime` (bf16 on CUDA, fp32 on the CPU).

Shapes: b batch, n sources, H W image size.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from tiwcli.config import TrainConfig
from tiwcli.errors import InputError, MissingWeightsError
from tiwcli.models import ImplicitWarping
from tiwcli.runtime import autocast
from tiwcli.training.data import Batch, step_seed
from tiwcli.training.discriminator import MultiScaleDiscriminator
from tiwcli.training.distributed import DistributedContext, wrap
from tiwcli.training.losses import GeneratorObjective, discriminator_loss
from tiwcli.training.perceptual import PerceptualLoss, load_perceptual_network
from tiwcli.training.run import RunOptions
from tiwcli.training.state import TrainingParts


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warmup (at most a tenth of the run) then cosine decay to lr * min_lr_ratio."""
    warmup = min(config.warmup_steps, config.steps // 10)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(config.steps - warmup, 1)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def _load_perceptual(options: RunOptions, console: Console, is_main: bool) -> PerceptualLoss | None:
    if options.train_config.perceptual_weight <= 0:
        return None
    try:
        network = load_perceptual_network(options.train_config.perceptual_network, options.vgg_path)
        return PerceptualLoss(network, options.train_config.pyramid_scales)
    except MissingWeightsError as error:
        if is_main:
            console.print(f"[yellow]note:[/] {error}")
        return None


def _init_weights(model: ImplicitWarping, path: Path) -> None:
    """Load --init weights: same config up to the priors (which own no weights: a run may switch
    the landmark prior on over older weights), no NaN/inf (read_model_file), floats where the model
    has floats (integer weights would be cast silently by load_state_dict)."""
    from tiwcli.checkpoint import check_weights, read_model_file

    config, tensors, _ = read_model_file(path)
    if not config.same_weights_as(model.config):
        raise InputError(f"{path}: --init weights are for another model config than this run's")
    check_weights(path, tensors, dict(model.state_dict()))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise InputError(f"{path}: --init weights do not fit ({str(error).splitlines()[0][:200]})") from None


@dataclass
class Trainer:
    """The networks, their optimisers and one training step."""

    model: ImplicitWarping
    objective: torch.nn.Module  # GeneratorObjective, maybe DDP-wrapped
    discriminator: MultiScaleDiscriminator | None
    discriminator_step: torch.nn.Module | None  # the discriminator, maybe DDP-wrapped
    optimizers: dict[str, torch.optim.Optimizer]
    config: TrainConfig
    device: torch.device

    @property
    def parts(self) -> TrainingParts:
        return TrainingParts(self.model, self.discriminator, self.optimizers)

    def _update(self, name: str, loss: torch.Tensor, module: torch.nn.Module) -> float:
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(
            module.parameters(), self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        )
        optimizer.step()
        return float(norm)

    def step(self, batch: Batch, step: int) -> dict[str, float]:
        """One generator and one discriminator update; returns the losses as floats."""
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(self.config, step)
        if self.discriminator is not None:
            self.discriminator.requires_grad_(False)  # the generator step must not touch it
        landmarks = None
        if batch.source_landmarks is not None and batch.driving_landmarks is not None:
            landmarks = (batch.source_landmarks, batch.driving_landmarks)
        warp_only = self.model.config.full_resolution_warp and step < self.config.warp_only_steps
        with autocast(self.device):
            result = self.objective(batch.sources, batch.driving, self.discriminator, landmarks, warp_only)
        losses = {name: float(value.detach()) for name, value in result.losses.items()}
        losses["grad_norm"] = self._update("generator", result.losses["total"], self.model)
        if self.discriminator is not None and self.discriminator_step is not None:
            self.discriminator.requires_grad_(True)
            with autocast(self.device):
                mouths = landmarks[1] if landmarks is not None and self.config.mouth_gan_weight > 0 else None
                loss = discriminator_loss(self.discriminator_step, batch.driving, result.image, mouths)
            losses["discriminator"] = float(loss.detach())
            self._update("discriminator", loss, self.discriminator)
        return losses


def build_trainer(
    options: RunOptions, context: DistributedContext, device: torch.device, console: Console | None = None
) -> Trainer:
    config = options.train_config
    console = console or Console(stderr=True, highlight=False, soft_wrap=True)
    torch.manual_seed(config.seed)  # same initial weights on every rank
    model = ImplicitWarping(options.model_config)
    if options.init is not None:
        _init_weights(model, options.init)
    model.to(device).train()
    perceptual = _load_perceptual(options, console, context.is_main)
    objective = GeneratorObjective(model, config, perceptual).to(device).train()
    optimizers = {"generator": torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas)}
    discriminator = None
    if options.gan and config.has_gan:
        discriminator = (
            MultiScaleDiscriminator(
                config.discriminator_scales,
                config.discriminator_channels,
                config.discriminator_blocks,
                config.spectral_norm,
            )
            .to(device)
            .train()
        )
        optimizers["discriminator"] = torch.optim.Adam(
            discriminator.parameters(), lr=config.lr, betas=config.betas
        )
    return Trainer(
        model=model,
        objective=wrap(objective, context, device),
        discriminator=discriminator,
        discriminator_step=wrap(discriminator, context, device) if discriminator is not None else None,
        optimizers=optimizers,
        config=config,
        device=device,
    )


def seed_step(seed: int, step: int, rank: int) -> None:
    """Reseed every global RNG (torch CPU and CUDA, numpy, random) for one step: whatever draws
    from them (source dropout, warps) is then a function of (seed, step, rank), wherever the
    run was stopped and resumed."""
    value = step_seed(seed, step, rank)
    torch.manual_seed(value)
    np.random.seed(value % 2**32)
    random.seed(value)
