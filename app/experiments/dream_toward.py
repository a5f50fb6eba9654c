"""Does dreaming toward a unit raise it? (seed 003, DeepDream in the loop)

The engine dreams (dream = 1) for ``steps`` steps from the same noise and the same source, once with
``objective.strength`` = 0 and once with it on, for each objective (the unit, its channel, the whole
layer) and with the feedback zoom off and on (the infinite-zoom dream). Measured every step on the
step's input, the composite *before* the objective moves it (so what is measured is where the dream
went, not the nudge itself): the unit's response, its channel's mean, the layer's mean square.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from app.loop.objective import objective, target_of

HOWS = ("unit", "channel", "layer")


@dataclass
class DreamTowardConfig:
    model: str | None = None
    device: str = "cpu"
    seed: int = 0
    steps: int = 200
    size: int = 64
    layer: int = 2
    unit: int = 3
    strength: float = 0.03
    zooms: tuple[float, ...] = (1.0, 1.02)
    source: str = "noise"

    @classmethod
    def quick(cls, seed: int = 0) -> "DreamTowardConfig":
        return cls(seed=seed, steps=20, zooms=(1.0,))


@dataclass
class Run:
    how: str
    zoom: float
    strength: float
    mean: float
    ms_per_step: float


@dataclass
class DreamTowardResult:
    config: DreamTowardConfig
    model: str
    size: int
    target: str
    runs: list[Run] = field(default_factory=list)

    def pairs(self):
        off = {(r.how, r.zoom): r for r in self.runs if r.strength == 0}
        return [(off[(r.how, r.zoom)], r) for r in self.runs if r.strength > 0]

    def markdown(self) -> str:
        lines = ["| objective | zoom | mean without | mean with | raised by | ms/step without | ms/step with |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        for off, on in self.pairs():
            lines.append(f"| {on.how} | {on.zoom:g} | {off.mean:.4f} | {on.mean:.4f} | {on.mean - off.mean:+.4f} | "
                         f"{off.ms_per_step:.1f} | {on.ms_per_step:.1f} |")
        c = self.config
        lines += ["", f"{self.model} at {self.size}px, {self.target}; dream = 1 from the same noise (seed {c.seed}) "
                      f"and source ({c.source}) for {c.steps} steps, objective.strength {c.strength}; the mean over "
                      f"the steps of the unit's response (unit), its channel's mean (channel) or the layer's mean "
                      f"square (layer), on each step's input before the objective moves it."]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"model": self.model, "size": self.size, "target": self.target,
                "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self.config).items()},
                "runs": [vars(r) for r in self.runs]}


def run(config: DreamTowardConfig, out: Path, progress: bool = True) -> DreamTowardResult:
    from app.gl.context import headless_context
    from app.loop.session import Session, full_registry
    from app.models.checkpoint import load

    ctx = headless_context()
    device = torch.device(config.device)
    result = None
    combos = [(how, zoom, strength) for zoom in config.zooms for how in HOWS for strength in (0.0, config.strength)]
    for how, zoom, strength in tqdm(combos, desc="dreams", unit="dream", disable=not progress):
        loaded = load(config.model or "ae-tiny-smooth", device)      # afresh: a model that learns starts the same
        registry = full_registry()
        size = loaded.runtime().capabilities.fixed_size or config.size
        session = Session(ctx, registry, loaded, config.source, size, device, realtime=False, seed=config.seed)
        engine = session.engine
        for address, value in (("dream", 1.0), ("probe.layer", config.layer), ("probe.unit", config.unit),
                               ("objective.target", how), ("objective.strength", strength), ("feedback.zoom", zoom)):
            registry.set(address, value)
        target = target_of(engine.model.prober(engine.size), registry)
        if result is None:
            result = DreamTowardResult(config, loaded.name, engine.size, target.describe())
        values = []
        spent = 0.0
        for _ in range(config.steps):
            began = time.perf_counter()
            engine.step()
            spent += time.perf_counter() - began
            with torch.no_grad():
                values.append(float(objective(engine.model.prober(engine.size), engine.last_input, target, how)[0]))
        session.close()
        result.runs.append(Run(how, zoom, strength, float(np.mean(values)), 1000 * spent / config.steps))
    ctx.release()
    return result
