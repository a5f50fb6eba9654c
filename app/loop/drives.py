"""Operations on the drives between the model and the mixer, composable like the rest of the step.

* latent noise: Gaussian noise on the top layer's bottom-up drive (its code), so every step
  encodes, perturbs and decodes — the dream becomes Monte-Carlo resampling of the model;
* inertia γ (representational inertia): the top layer's bottom-up drive becomes
  (1−γ)·enc + γ·(z_{t−1} + momentum·(z_{t−1} − z_{t−2})), a blend of the encoding with the code's own
  extrapolation; the layers below listen to their input in proportion (1−γ) and to the layer above
  for the rest, so at γ = 1 the whole stack runs on the top layer's momentum and ignores its input;
* motion m (calm ↔ wild, the dream's one control): every layer's drives move only a fraction
  r(m) of the way from its state, so whatever rule mixes them takes that fraction of a step, and
  the top layer's code gets noise σ(m). Calm dreams drift slowly from basin to basin; wild ones
  change fast and leave each basin soon. Both scale with ``dream``: a loop that follows its source
  is not slowed. At m = 0 the step is the plain loop.
* fatigue f (adaptation): every layer keeps a slow running average of its own state
  (``Fatigue``, over about 1/``FATIGUE_RATE`` steps) and its drives are lowered by f times it, as
  neurons tire of firing: a scene the loop holds fades, and the dream moves on to another basin
  instead of settling in one for good. It scales with ``dream``.
* wander w (regions): a slow random field, ``WANDER_CELLS`` × ``WANDER_CELLS`` cells across the frame
  whatever its size, upsampled smoothly and added to the top layer's code with a spread of w · ``WANDER_GAIN``;
  it renews itself over about 1/``WANDER_RATE`` steps (``Wander``). A model's receptive fields keep its
  textures a fixed size in pixels, so a large frame left alone fills with one even texture; the field
  gives each region of it its own scene, and lets the regions drift. It scales with ``dream``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from app.models.base import Drives
from app.params import Registry


MOTION_RATE = (0.02, 1.0)     # r(m) from m → 0 to m = 1, geometrically
MOTION_NOISE = 0.5            # σ(1)
FATIGUE_RATE = 0.01           # of the running average per step
WANDER_CELLS = 4              # of the field across the frame
WANDER_RATE = 0.01            # of the field renewed per step
WANDER_GAIN = 0.3             # the field's standard deviation at w = 1


def latent_noise(drives: Drives, sigma: float, generator: torch.Generator | None,
                 draw: Callable[[torch.Tensor], torch.Tensor] = torch.randn_like) -> Drives:
    """Noise σ on the top layer's code, drawn from ``generator`` (None: ``draw(code)``, by default from the
    device's own generator)."""
    if sigma <= 0:
        return drives
    top = drives.up[-1]
    noise = draw(top) if generator is None else torch.randn(top.shape, generator=generator).to(top.device)
    return Drives(up=[*drives.up[:-1], top + sigma * noise], down=drives.down, prediction=drives.prediction)


def motion_rate_and_noise(amount: float, dream: float) -> tuple[float, float]:
    """(r, σ) of the motion operation at ``amount`` m and ``dream``: (1, 0) leaves the step alone."""
    if amount <= 0 or dream <= 0:
        return 1.0, 0.0
    low, high = MOTION_RATE
    rate = low * (high / low) ** amount
    return 1.0 - dream * (1.0 - rate), dream * MOTION_NOISE * amount


def motion(drives: Drives, states: list[torch.Tensor], amount: float, dream: float,
           generator: torch.Generator | None,
           draw: Callable[[torch.Tensor], torch.Tensor] = torch.randn_like) -> Drives:
    rate, sigma = motion_rate_and_noise(amount, dream)
    if rate == 1.0 and sigma == 0.0:
        return drives
    up = [torch.lerp(s.to(u.dtype), u, rate) for s, u in zip(states, drives.up)]
    down = [torch.lerp(s.to(d.dtype), d, rate) for s, d in zip(states, drives.down)]
    moved = Drives(up=up, down=down, prediction=drives.prediction, seen_prediction=drives.seen_prediction)
    return latent_noise(moved, rate * sigma, generator, draw)


class Fatigue:
    """The layers' running averages of their states, which the fatigue operation subtracts."""

    def __init__(self):
        self.levels: list[torch.Tensor] | None = None

    def reset(self) -> None:
        self.levels = None

    def update(self, states: list[torch.Tensor]) -> None:
        if self.levels is None or [l.shape for l in self.levels] != [s.shape for s in states]:
            self.levels = [s.detach().float().clone() for s in states]
        else:
            self.levels = [torch.lerp(l, s.detach().float(), FATIGUE_RATE) for l, s in zip(self.levels, states)]


def fatigue(drives: Drives, states: list[torch.Tensor], tired: Fatigue, amount: float, dream: float) -> Drives:
    k = amount * dream
    if k <= 0:
        tired.reset()
        return drives
    tired.update(states)
    up = [u - k * l.to(u.dtype) for u, l in zip(drives.up, tired.levels)]
    down = [d - k * l.to(d.dtype) for d, l in zip(drives.down, tired.levels)]
    return Drives(up=up, down=down, prediction=drives.prediction, seen_prediction=drives.seen_prediction)


class Wander:
    """The wander field: unit-variance noise per top-layer channel and cell, renewed as an
    Ornstein–Uhlenbeck process so its spread stays the same while its pattern drifts."""

    def __init__(self):
        self.field: torch.Tensor | None = None

    def reset(self) -> None:
        self.field = None

    def update(self, top: torch.Tensor, generator: torch.Generator | None,
               draw: Callable[[torch.Tensor], torch.Tensor] = torch.randn_like) -> torch.Tensor:
        shape = (top.shape[0], top.shape[1], WANDER_CELLS, WANDER_CELLS)
        fresh = (draw(top.new_empty(shape, dtype=torch.float32)) if generator is None
                 else torch.randn(shape, generator=generator).to(top.device))
        if self.field is None or self.field.shape != fresh.shape:
            self.field = fresh
        else:
            self.field = (1 - WANDER_RATE) * self.field + (2 * WANDER_RATE - WANDER_RATE ** 2) ** 0.5 * fresh
        return self.field


def wander(drives: Drives, field: Wander, amount: float, dream: float, generator: torch.Generator | None,
           draw: Callable[[torch.Tensor], torch.Tensor] = torch.randn_like) -> Drives:
    k = amount * dream * WANDER_GAIN
    if k <= 0:
        field.reset()
        return drives
    top = drives.up[-1]
    cells = field.update(top, generator, draw)
    spread = F.interpolate(cells, size=top.shape[-2:], mode="bicubic", align_corners=False)
    return Drives(up=[*drives.up[:-1], top + k * spread.to(top.dtype)], down=drives.down,
                  prediction=drives.prediction, seen_prediction=drives.seen_prediction)


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
          generator: torch.Generator, tired: Fatigue, field: Wander) -> Drives:
    drives = inertia(drives, states, previous_top, registry["inertia"], registry["inertia_momentum"])
    drives = fatigue(drives, states, tired, registry["fatigue"], registry["dream"])
    drives = wander(drives, field, registry["wander"], registry["dream"], generator)
    drives = motion(drives, states, registry["motion"], registry["dream"], generator)
    return latent_noise(drives, registry["latent_noise"], generator)
