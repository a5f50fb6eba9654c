"""Operations on the drives between the model and the mixer, composable like the rest of the step.

* latent noise: Gaussian noise on the top layer's bottom-up drive (its code), so every step
  encodes, perturbs and decodes — the dream becomes Monte-Carlo resampling of the model;
* inertia γ (representational inertia): the top layer's bottom-up drive becomes
  (1−γ)·enc + γ·(z_{t−1} + momentum·(z_{t−1} − z_{t−2})), a blend of the encoding with the code's own
  extrapolation; the layers below listen to their input in proportion (1−γ) and to the layer above
  for the rest, so at γ = 1 the whole stack runs on the top layer's momentum and ignores its input.
"""

from __future__ import annotations

import torch

from app.models.base import Drives
from app.params import Registry


def latent_noise(drives: Drives, sigma: float, generator: torch.Generator) -> Drives:
    if sigma <= 0:
        return drives
    top = drives.up[-1]
    noise = torch.randn(top.shape, generator=generator).to(top.device)
    return Drives(up=[*drives.up[:-1], top + sigma * noise], down=drives.down, prediction=drives.prediction)


def inertia(drives: Drives, states: list[torch.Tensor], previous_top: torch.Tensor | None, gamma: float,
            momentum: float) -> Drives:
    if gamma <= 0:
        return drives
    top = states[-1]
    velocity = top - previous_top if previous_top is not None else torch.zeros_like(top)
    up_top = (1 - gamma) * drives.up[-1] + gamma * (top + momentum * velocity)
    up = [(1 - gamma) * u + gamma * d for u, d in zip(drives.up[:-1], drives.down[:-1])] + [up_top]
    return Drives(up=up, down=drives.down, prediction=drives.prediction)


def apply(drives: Drives, states: list[torch.Tensor], previous_top: torch.Tensor | None, registry: Registry,
          generator: torch.Generator) -> Drives:
    drives = inertia(drives, states, previous_top, registry["inertia"], registry["inertia_momentum"])
    return latent_noise(drives, registry["latent_noise"], generator)
