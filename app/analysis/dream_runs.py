"""Dreams of a model through the real engine, headless: ``dream=1`` from uniform noise or from the
sample clip, keeping each step's change and the frames a check looks at.

A dream from the sample clip starts where the loop has been following the clip (``dream=0``) for
``HOLD_STEPS`` steps, from clip frame (s mod 8) · ``CLIP_STRIDE`` on for seed s: a frame the
reference measures, in a scene of the clip of its own. The clip plays on under the dream, as a
source does (at ``dream=1`` the loop does not see it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from app.analysis.motion import motion_window
from app.analysis.reference import CLIP_FRAMES, CLIP_STRIDE
from app.gl.mixer import RuleSet
from app.loop.session import Session, apply_assignments, full_registry
from app.models.checkpoint import LoadedModel
from app.sources.procedural import NoiseSource

STARTS = ("noise", "sample")
HOLD_STEPS = 100


@dataclass
class DreamTrace:
    seed: int
    start: str                      # one of STARTS
    changes: np.ndarray             # (steps,): the prediction's RMS change at each dream step
    frames: dict[int, np.ndarray]   # dream step → prediction, (S, S, 3) float32; step 0: where the dream starts
    finite: bool                    # no step produced NaN/inf (the engine resets to noise when one does)

    @property
    def steps(self) -> int:
        return len(self.changes)


def time_points(steps: int) -> list[int]:
    """The steps of a dream whose frames are kept: its start, every power of ten before the motion
    window, and the window's two ends (``app.analysis.motion``)."""
    window = motion_window(steps)
    powers = [10 ** k for k in range(1, len(str(steps))) if 10 ** k < steps - window]
    return sorted({0, *powers, steps - window, steps})


class DreamRunner:
    """Dreams of ``loaded`` at ``size``, one per call of ``run``, with the default mixing rule and
    every parameter at its default but ``dream=1`` and then ``assignments``."""

    def __init__(self, ctx, loaded: LoadedModel, size: int, device: torch.device | str,
                 assignments: list[str] = (), precision: str = "fp32"):
        self.ctx, self.loaded, self.size, self.device = ctx, loaded, size, torch.device(device)
        self.precision = precision
        self.assignments = list(assignments)
        self.registry = full_registry()
        self.rules = RuleSet(ctx, self.registry, strict=True)
        apply_assignments(self.registry, self.assignments)      # a bad --set fails before any dream

    def run(self, seed: int, start: str, steps: int, on_frame: Callable[[np.ndarray], None] | None = None,
            on_step: Callable[[], None] | None = None) -> DreamTrace:
        """One dream of ``steps`` steps; ``on_frame`` gets every prediction of it (float32, copied),
        ``on_step`` is called once per step taken, the clip's included."""
        registry = self.registry
        session = Session(self.ctx, registry, self.loaded, start, self.size, self.device,
                          realtime=False, rules=self.rules, seed=seed, precision=self.precision)
        engine = session.engine
        try:
            if start == "noise":
                engine.set_source(NoiseSource(self.size, seed))
            else:
                self._follow_clip(engine, seed, on_step)
            registry.set("dream", 1)
            apply_assignments(registry, self.assignments)
            points = set(time_points(steps))
            frames = {0: _prediction(engine)}
            records = []
            for step in range(1, steps + 1):
                records.append(engine.step())
                if step in points or on_frame is not None:
                    frame = _prediction(engine)
                    if step in points:
                        frames[step] = frame
                    if on_frame is not None:
                        on_frame(frame)
                if on_step is not None:
                    on_step()
            changes = np.array([r.image_change for r in records], np.float64)
            finite = all(r.finite for r in records)
        finally:
            session.close()
        return DreamTrace(seed, start, changes, frames, finite)

    def _follow_clip(self, engine, seed: int, on_step) -> None:
        apply_assignments(self.registry, self.assignments)
        self.registry.set("dream", 0)
        for _ in range(seed % CLIP_FRAMES * CLIP_STRIDE):
            engine.source.read()
        for _ in range(HOLD_STEPS):
            engine.step()
            if on_step is not None:
                on_step()


def _prediction(engine) -> np.ndarray:
    return np.array(engine.last_prediction.numpy(), np.float32)
