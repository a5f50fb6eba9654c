"""How close a set of generated samples is to a target distribution.

The energy distance (Székely and Rizzo) D² = 2·E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖ is zero exactly when
the two distributions are equal and grows with any difference in location, spread or shape; here it
is taken between the two empirical distributions, so it is never negative and a sample against
itself scores 0. Mode coverage says which clusters of a multimodal target a sampler reaches at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def _mean_distance(a: torch.Tensor, b: torch.Tensor, chunk: int = 4096) -> float:
    total = 0.0
    for start in range(0, len(a), chunk):
        total += torch.cdist(a[start:start + chunk], b).sum().item()
    return total / (len(a) * len(b))


def energy_distance(a, b) -> float:
    """D² between the empirical distributions of two sample sets of shape (n, d) and (m, d); infinite
    when a sample is not finite (a sampler that diverged)."""
    a = torch.as_tensor(np.asarray(a), dtype=torch.float64)
    b = torch.as_tensor(np.asarray(b), dtype=torch.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"energy distance needs two (n, d) sample sets of one dimension, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return math.inf
    return max(0.0, 2 * _mean_distance(a, b) - _mean_distance(a, a) - _mean_distance(b, b))


@dataclass
class ModeCoverage:
    per_mode: list[float]   # fraction of all samples within the radius of each mode centre
    covered: int            # modes holding at least min_fraction of the samples
    near_any: float         # fraction of samples within the radius of some mode (the rest fall between)


def mode_coverage(samples, centres, radius: float, min_fraction: float = 0.01) -> ModeCoverage:
    """A mode counts as covered when at least ``min_fraction`` of the samples lie within ``radius``
    of its centre."""
    samples = np.asarray(samples, np.float64)
    centres = np.asarray(centres, np.float64)
    near = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=-1) <= radius
    per_mode = near.mean(axis=0)
    return ModeCoverage(per_mode=[float(f) for f in per_mode], covered=int((per_mode >= min_fraction).sum()),
                        near_any=float(near.any(axis=1).mean()))
