"""Training: self-supervised reconstruction of a driving frame from 1..N sources of the same clip.

run.py             RunOptions, the run folder (run.json, checkpoints/, samples/, log), resolve_settings
loop.py            `train()`: the step loop, checkpoints, Ctrl-C between steps
run_log.py         what a run writes as it goes: log.jsonl (+ TensorBoard), sample grids
trainer.py         one step: networks, optimisers, learning rate, seeding, autocast
state.py           checkpoints without pickle: optimiser and RNG states as tensors + JSON
data.py            clips -> batches of (sources, driving), seeded per step
augment.py         flips, colour jitter, still samples moved by random warps
warps.py           random affine + thin-plate-spline warps (equivariance, still samples)
losses.py          the generator objective: pyramid L1, perceptual, GAN, equivariance, landmarks
perceptual.py      VGG-19 (or HED's VGG16) features for the perceptual loss
discriminator.py   multi-scale patch discriminator
distributed.py     torchrun -> process group -> DDP wrappers
"""
