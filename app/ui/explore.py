"""Live attractor exploration for the window: the detector's verdict, the gallery of attractors
reached, the trajectory of the top layer, and dreaming from a static frame.

The detector's tolerance is relative to the dream's own scale (``explore.tolerance``, a fraction of
the spread of the prediction and of the top layer), so that a dream that stopped moving reads
"fixed point" at any size and with any model. While a static frame is held before dreaming from
it, nothing is detected: the held photo is no attractor of the dream."""

from __future__ import annotations

from dataclasses import dataclass, field

import moderngl
import numpy as np

from app.analysis.attractors import (CYCLE, FIXED_POINT, AttractorDetector, DetectorConfig, Verdict, signature,
                                     signature_parts)
from app.analysis.gallery import Attractor, Gallery, thumbnail
from app.analysis.trajectory import Trajectory
from app.loop.engine import Engine


PROJECT_EVERY = 4


@dataclass
class Explorer:
    gallery: Gallery
    detector: AttractorDetector = field(default_factory=lambda: AttractorDetector(DetectorConfig(relative=True)))
    trajectory: Trajectory = field(default_factory=Trajectory)
    hold_remaining: int = 0
    textures: dict[int, moderngl.Texture] = field(default_factory=dict)
    last_added: Attractor | None = None
    _projected: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 2)), np.zeros((0, 2)))
    _projected_key: tuple = ()

    @classmethod
    def for_engine(cls, engine: Engine) -> Explorer:
        return cls(gallery=Gallery(engine.loaded.name, engine.size))

    def update(self, engine: Engine) -> Verdict:
        """Called after every step."""
        r = engine.registry
        if self.hold_remaining > 0:         # the held frame: no dream yet, nothing to detect
            self.hold_remaining -= 1
            if self.hold_remaining == 0:
                r.set("dream", 1.0)
                self.restart()
            return self.detector.verdict
        config = self.detector.config
        config.tolerance, config.patience, config.relative = r["explore.tolerance"], r["explore.patience"], True
        top = engine.states[-1].detach().to("cpu").numpy()
        last = engine.last_prediction.numpy()
        before = self.detector.verdict
        verdict = self.detector.update(engine.step_index, signature(last, top), signature_parts(last.shape, top.size))
        self.trajectory.add(engine.step_index, top)
        if verdict.kind in (FIXED_POINT, CYCLE) and (verdict.kind, verdict.period) != (before.kind, before.period):
            states, prediction = engine.snapshot()
            sig = signature(prediction.numpy(), states[-1].numpy())
            self.last_added, _ = self.gallery.add(Attractor(
                kind=verdict.kind, period=verdict.period, step=engine.step_index, visits=1,
                thumbnail=thumbnail(prediction.numpy()), signature=sig, states=states, prediction=prediction))
        return verdict

    def restart(self) -> None:
        self.detector.reset()
        self.trajectory.reset()

    def dream_from_static_frame(self, engine: Engine) -> None:
        """Hold the current source frame for ``explore.hold`` steps (erasing motion memory), then dream."""
        r = engine.registry
        r.set("freeze", True)
        r.set("dream", 0.0)
        self.hold_remaining = r["explore.hold"]
        self.restart()

    def restore(self, engine: Engine, entry: Attractor) -> None:
        engine.load_states(entry.states, entry.prediction)
        self.restart()

    def texture(self, ctx: moderngl.Context, entry: Attractor) -> moderngl.Texture:
        key = id(entry)
        if key not in self.textures:
            h, w, _ = entry.thumbnail.shape
            self.textures[key] = ctx.texture((w, h), 3, np.ascontiguousarray(entry.thumbnail).tobytes())
        return self.textures[key]

    def replace_gallery(self, gallery: Gallery) -> None:
        for tex in self.textures.values():
            tex.release()
        self.textures.clear()
        self.gallery = gallery

    def trajectory_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The projected path and attractors, recomputed every few steps (the panel draws every frame)."""
        key = (self.trajectory.steps[-1] if self.trajectory.steps else -1) // PROJECT_EVERY, len(self.gallery.entries)
        if key != self._projected_key:
            tops = [e.states[-1].numpy() for e in self.gallery.entries]
            self._projected = self.trajectory.project(tops)
            self._projected_key = key
        return self._projected
