"""What a dream ends in: figures of a frame and runs of the real engine from noise.

A good dream is not flat (pixel std), not saturated (pixels stuck at 0 or 1), finite, and neither
blurred into blobs nor left as noise: the log-log slope of its radially averaged power spectrum
lies where natural photos do (about −2.5 to −3.0; white noise ≈ 0, a σ = 2 px blur below −10).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

STD_MIN = 0.05
SATURATED_MAX = 0.15
SLOPE_RANGE = (-4.0, -1.5)
LUMA = np.array([0.299, 0.587, 0.114])


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


def to_gray(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB → (H, W) luma; a 2-D frame is returned as it is."""
    frame = np.asarray(frame, np.float64)
    return frame @ LUMA if frame.ndim == 3 else frame


def radial_power(gray: np.ndarray) -> np.ndarray:
    """Power by integer spatial frequency (cycles per frame) of a square frame, after removing its
    mean and applying a separable Hann window (so the frame's edges add no spurious power)."""
    n = gray.shape[0]
    if gray.shape != (n, n):
        raise ValueError(f"spectral figures need a square frame, got {gray.shape}")
    window = np.outer(np.hanning(n), np.hanning(n))
    power = np.abs(np.fft.fftshift(np.fft.fft2((gray - gray.mean()) * window))) ** 2
    y, x = np.indices(power.shape)
    radius = np.rint(np.hypot(y - n // 2, x - n // 2)).astype(int).ravel()
    return np.bincount(radius, power.ravel()) / np.maximum(np.bincount(radius), 1)


def spectral_slope(frame: np.ndarray) -> float:
    """Least-squares slope of log power against log frequency over 2 … N/2−1 cycles per frame."""
    gray = to_gray(frame)
    n = gray.shape[0]
    power = radial_power(gray)
    freqs = np.arange(2, n // 2)
    tiny = np.finfo(np.float64).tiny  # a flat frame has zero power: keep the logarithm finite
    return float(np.polyfit(np.log(freqs), np.log(power[freqs] + tiny), 1)[0])


def frame_figures(frame: np.ndarray) -> FrameFigures:
    """Figures of an (H, W, 3) RGB frame with values in [0, 1]."""
    frame = np.asarray(frame, np.float64)
    finite = bool(np.isfinite(frame).all())
    if not finite:
        return FrameFigures(std=float("nan"), saturated=float("nan"), finite=False, slope=float("nan"))
    saturated = float(((frame <= 1 / 255) | (frame >= 254 / 255)).mean())
    return FrameFigures(std=float(frame.std()), saturated=saturated, finite=True, slope=spectral_slope(frame))


def dream_from_noise(engine, steps: int, progress: bool = True) -> np.ndarray:
    """Reset ``engine`` to noise, run ``steps`` steps, and return its last prediction (H, W, 3)."""
    engine.reset()
    for _ in tqdm(range(steps), desc=f"dreaming {engine.loaded.name}", unit="step", disable=not progress,
                  leave=False):
        engine.step()
    return engine.last_prediction.numpy().astype(np.float64)


def dream_end_frames(ctx, loaded, size: int, steps: int, seeds: list[int], assignments: list[str] = (),
                     device: torch.device | str = "cpu", progress: bool = True) -> list[np.ndarray]:
    """End frames of full dreams (``dream=1``, then ``assignments``) from noise, one per seed, run
    through the real engine with its default mixing rule."""
    from app.gl.mixer import RuleSet
    from app.loop.session import Session, full_registry
    from app.sources.procedural import NoiseSource

    frames = []
    registry = full_registry()
    rules = RuleSet(ctx, registry, strict=True)
    for seed in seeds:
        session = Session(ctx, registry, loaded, "noise", size, device, realtime=False, rules=rules, seed=seed)
        session.engine.set_source(NoiseSource(size, seed))
        registry.set("dream", 1)  # after the session, which starts in the model's normal mode
        for assignment in assignments:
            registry.apply(assignment)
        try:
            frames.append(dream_from_noise(session.engine, steps, progress))
        finally:
            session.close()
    return frames
