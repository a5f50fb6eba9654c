"""Does a unit's preferred stimulus depend on where the ascent starts? (seed 003)

For N units of every probe layer (at the centre of the layer's grid, channels spread evenly over the
layer), gradient ascent (SGD without momentum, lr 0.1, 100 steps) starts from zeros (mid-gray), from
noise and from the unit's top patch (the patch of the bundled photos and the sample clip that drives it
most); each result is taken as what the ascent added to its start (the top-patch result with the patch
subtracted, as in the seed). Pearson's r between the three, per unit, is reported per layer.

The seed's claim is that r is 1 at the first layer (conv1 is linear, so the gradient is the kernel from
any start) and drops in deeper layers. Our first *layer* is not linear (conv stride 2 → activation →
conv → tanh); its first *convolution*, before its activation ("1.conv1"), is, and is measured apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from app.analysis.ascent import AscentConfig, ascend, pearson, shown
from app.analysis.probe_report import tile, write_png
from app.analysis.top_patches import scan_images, top_patches
from app.models.probing import ProbeTarget, centre

PAIRS = (("zeros", "top-patch"), ("zeros", "noise"), ("noise", "top-patch"))
STARTS = ("zeros", "noise", "top-patch")


@dataclass
class ProbeInitsConfig:
    model: str | None = None
    device: str = "cpu"
    seed: int = 0
    units: int = 8               # per layer
    steps: int = 100
    lr: float = 0.1
    noise: float = 0.25          # std of the noise start: about the spread of natural patches around gray
    size: int | None = None      # frame size (None: 128, or the size a model fixes)
    layers: tuple[str, ...] = ()     # () : every layer the model's probe has

    @classmethod
    def quick(cls, seed: int = 0) -> "ProbeInitsConfig":
        return cls(seed=seed, units=2, steps=10, size=64, layers=("1.conv1", "1", "2"))


@dataclass
class LayerScore:
    layer: str
    description: str
    linear: bool
    field: int                       # receptive field side, pixels
    units: list[int]
    r: dict[str, list[float]]        # "zeros vs top-patch" → per unit
    gains: dict[str, list[float]]    # start → response gain per unit
    nan_units: int = 0               # units whose ascent did not move (zero gradient): no r

    def mean(self, pair: str) -> float:
        values = [v for v in self.r[pair] if math.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    def low(self, pair: str) -> float:
        values = [v for v in self.r[pair] if math.isfinite(v)]
        return float(np.min(values)) if values else float("nan")


@dataclass
class ProbeInitsResult:
    config: ProbeInitsConfig
    model: str
    size: int
    scores: list[LayerScore] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        head = " | ".join(f"r {a} vs {b}" for a, b in PAIRS)
        lines = [f"| layer | what | field | {head} | lowest r zeros vs top-patch |",
                 "|---|---|---:|" + "---:|" * (len(PAIRS) + 1)]
        for s in self.scores:
            pairs = " | ".join(f"{s.mean(f'{a} vs {b}'):.3f}" for a, b in PAIRS)
            what = s.description + (" (linear)" if s.linear else "")
            lines.append(f"| {s.layer} | {what} | {s.field} px | {pairs} | {s.low('zeros vs top-patch'):.3f} |")
        c = self.config
        lines += ["", f"{self.model} at {self.size}px; {len(self.scores[0].units) if self.scores else 0} units per "
                      f"layer at the centre of its grid; SGD without momentum, lr {c.lr}, {c.steps} steps; noise "
                      f"start σ = {c.noise}; mean Pearson r of what each ascent added to its start."]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"model": self.model, "size": self.size, "config": {k: v for k, v in vars(self.config).items()},
                "layers": [{"layer": s.layer, "description": s.description, "linear": s.linear, "field": s.field,
                            "units": s.units, "r": s.r, "mean_r": {p: s.mean(p) for p in s.r},
                            "gains": s.gains, "nan_units": s.nan_units} for s in self.scores],
                "figures": self.figures}


def _units(count: int, available: int) -> list[int]:
    return sorted({int(round(v)) for v in np.linspace(0, available - 1, min(count, available))})


def run(config: ProbeInitsConfig, out: Path, progress: bool = True) -> ProbeInitsResult:
    from app.models.checkpoint import load

    device = torch.device(config.device)
    loaded = load(config.model or "ae-tiny-smooth", device)
    stack = loaded.runtime().placed(device, torch.float32)
    capabilities = stack.capabilities
    size = capabilities.fixed_size or config.size or 128
    probe = stack.prober(size)
    if probe is None:
        raise ValueError(f"{loaded.name} cannot be probed")
    layers = [l for l in probe.layers() if not config.layers or l.name in config.layers]
    images = list(scan_images(probe.size, probe.resizable))
    ascent = AscentConfig(steps=config.steps, lr=config.lr, noise=config.noise, seed=config.seed)
    result = ProbeInitsResult(config, loaded.name, size)
    pictures = []
    for layer in tqdm(layers, desc="layers", unit="layer", disable=not progress):
        targets = [ProbeTarget(layer.name, u, centre(layer)) for u in _units(config.units, layer.units)]
        tops = top_patches(probe, targets, 1, images)
        patches = [t[0].patch for t in tops]
        runs = {start: ascend(probe, targets, start, ascent, patches=patches if start == "top-patch" else None)
                for start in STARTS}
        r = {f"{a} vs {b}": [pearson(x.added, y.added) for x, y in zip(runs[a], runs[b])] for a, b in PAIRS}
        nan_units = sum(1 for v in r["zeros vs top-patch"] if not math.isfinite(v))
        field_side = probe.receptive_field(targets[0]).height
        result.scores.append(LayerScore(layer.name, layer.description, layer.linear, field_side,
                                        [t.unit for t in targets], r,
                                        {s: [x.gain for x in runs[s]] for s in STARTS}, nan_units))
        row = []
        for i in range(min(2, len(targets))):
            row += [shown(runs[s][i].added) for s in STARTS] + [np.clip(patches[i] * 255 + 0.5, 0, 255).astype(np.uint8)]
        pictures.append((layer.name, row))
    side = 72
    name = f"probe_inits_{loaded.name}"
    grid = [_fit(image, side) for _, row in pictures for image in row]
    if grid:
        write_png(out / f"{name}_stimuli.png", tile(grid, len(pictures[0][1])), 0)
        result.figures.append(f"{name}_stimuli.png")
        result.figures.append(_plot(result, out / f"{name}_r.png"))
    return result


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    import cv2
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_NEAREST)


def _plot(result: ProbeInitsResult, path: Path) -> str:
    from app.analysis.probe_report import plt

    fig, ax = plt.subplots(figsize=(7, 3.4), dpi=100)
    xs = np.arange(len(result.scores))
    for k, (a, b) in enumerate(PAIRS):
        pair = f"{a} vs {b}"
        means = [s.mean(pair) for s in result.scores]
        ax.plot(xs + 0.08 * (k - 1), means, marker="o", label=pair)
        for x, s in zip(xs, result.scores):
            ax.scatter(np.full(len(s.r[pair]), x + 0.08 * (k - 1)), s.r[pair], s=8, alpha=0.35,
                       color=ax.lines[-1].get_color())
    ax.set_xticks(xs, [s.layer for s in result.scores], rotation=45, fontsize=8)
    ax.set_ylabel("Pearson r")
    ax.set_title(f"{result.model}: does the preferred stimulus depend on the start?", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name
