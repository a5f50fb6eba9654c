"""The quick dream figures a model's card carries: the end frames of short dreams from noise through
the real engine, and how natural each looks (``app.analysis.verdict`` judges dreams in full).

A good end frame is not flat (pixel std), not saturated (pixels stuck at 0 or 1), finite, and neither
blurred into blobs nor left as noise: the log-log slope of its radially averaged power spectrum
lies where natural photos do (about −2.5 to −3.0; white noise ≈ 0, a σ = 2 px blur below −10).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

from app.analysis.dream_runs import DreamRunner
from app.analysis.spectrum import spectral_slope

STD_MIN = 0.05
SATURATED_MAX = 0.15
SLOPE_RANGE = (-4.0, -1.5)


@dataclass
class FrameFigures:
    std: float          # pixel standard deviation over all channels
    saturated: float    # fraction of values within 1/255 of 0 or 1
    finite: bool
    slope: float        # log-log slope of the gray frame's radially averaged power spectrum

    @property
    def passes(self) -> bool:
        return (self.finite and self.std >= STD_MIN and self.saturated < SATURATED_MAX
                and SLOPE_RANGE[0] <= self.slope <= SLOPE_RANGE[1])

    def to_dict(self) -> dict:
        return {**asdict(self), "passes": self.passes}


def frame_figures(frame: np.ndarray) -> FrameFigures:
    """Figures of an (H, W, 3) RGB frame with values in [0, 1]."""
    frame = np.asarray(frame, np.float64)
    finite = bool(np.isfinite(frame).all())
    if not finite:
        return FrameFigures(std=float("nan"), saturated=float("nan"), finite=False, slope=float("nan"))
    saturated = float(((frame <= 1 / 255) | (frame >= 254 / 255)).mean())
    return FrameFigures(std=float(frame.std()), saturated=saturated, finite=True, slope=spectral_slope(frame))


def dream_end_frames(ctx, loaded, size: int, steps: int, seeds: list[int], assignments: list[str] = (),
                     device: torch.device | str = "cpu", progress: bool = True) -> list[np.ndarray]:
    """End frames (H, W, 3) of full dreams (``dream=1``, then ``assignments``) from noise, one per
    seed, run through the real engine with its default mixing rule."""
    runner = DreamRunner(ctx, loaded, size, device, assignments)
    with tqdm(total=len(seeds) * steps, desc=f"dreaming {loaded.name}", unit="step", disable=not progress,
              leave=False) as bar:
        return [runner.run(seed, "noise", steps, on_step=bar.update).frames[steps].astype(np.float64)
                for seed in seeds]
