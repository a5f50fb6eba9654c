"""A unit's preferred stimulus by gradient ascent on the input pixels (seed 003, after Fu and Bair).

The ascent changes only the pixels of the unit's receptive field: an input of the field's size, placed at
the unit's position in a mid-gray frame (pixels outside the field cannot change the unit; that is what
the field is). Where the model computes the same function at every position and reads any size, the
frame is the smallest one that holds the field with no padding reaching the unit (``compact``).

Frames are in [0, 1]; the seed's inputs were normalised to about ±1 with zero at the data's mean, so
its zero start is our mid-gray: every start and result here is a deviation from gray 0.5, and what a
start is shown as is what the ascent *added* (the result minus its start: for the top-patch start,
the seed's "patch subtracted"). Pixels are not clipped, as in the seed. SGD without momentum at lr 0.1
for 100 steps is the seed's choice (Adam looks noisier); the step maximises the unit's response.

Many units of one layer at one position ascend at once, as one batch (their gradients are independent).
"""

from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field

import numpy as np
import torch

from app.models.probing import ProbeTarget, ReceptiveField, UnitProbe, check_target

INITS = ("zeros", "noise", "top-patch")
OPTIMIZERS = ("sgd", "adam")
GRAY = 0.5


@dataclass(frozen=True)
class AscentConfig:
    steps: int = 100
    lr: float = 0.1
    optimizer: str = "sgd"
    noise: float = 0.1          # std of the noise start (a deviation from gray)
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.steps < 0 or not self.lr > 0:
            raise ValueError(f"steps must be ≥ 0 and lr > 0, got {self.steps} and {self.lr}")


@dataclass
class Stimulus:
    """One unit's ascent: arrays (h, w, 3) over its receptive field (clipped to the frame), as
    deviations from gray."""
    target: ProbeTarget
    field: ReceptiveField
    init: str
    start: np.ndarray
    final: np.ndarray
    curve: np.ndarray                   # (steps + 1,): the response before each step, then after the last
    extra: dict = dataclass_field(default_factory=dict)

    @property
    def added(self) -> np.ndarray:
        """What the ascent added to its start (for the top-patch start: the result, patch subtracted)."""
        return self.final - self.start

    @property
    def gain(self) -> float:
        return float(self.curve[-1] - self.curve[0])

    def to_dict(self) -> dict:
        return {"target": self.target.to_dict(), "init": self.init, "field": self.field.to_dict(),
                "response_start": float(self.curve[0]), "response_final": float(self.curve[-1]),
                "curve": [round(float(v), 6) for v in self.curve], **self.extra}


def place(probe: UnitProbe, target: ProbeTarget) -> tuple[int, ProbeTarget, ReceptiveField, tuple[int, int, int, int]]:
    """Where the ascent runs: (frame side, the unit in that frame, the field clipped to the probe's frame,
    the field's box in the ascent frame)."""
    check_target(probe, target)
    side, inner, (dy, dx) = probe.compact(target)
    field = probe.receptive_field(target).clipped(probe.size)
    t, l, b, r = field.box
    return side, inner, field, (t - dy, l - dx, b - dy, r - dx)


def frames_with(patches: torch.Tensor, side: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    """(B, 3, h, w) deviations from gray → (B, 3, side, side) gray frames with them at ``box``
    (differentiable in the patches)."""
    t, l, b, r = box
    frame = torch.full((patches.shape[0], 3, side, side), GRAY, dtype=patches.dtype, device=patches.device)
    frame[:, :, t:b, l:r] = patches + GRAY
    return frame


def _starts(init: str, n: int, shape: tuple[int, int], config: AscentConfig,
            patches: list[np.ndarray] | None) -> torch.Tensor:
    h, w = shape
    if init == "zeros":
        return torch.zeros(n, 3, h, w)
    if init == "noise":
        generator = torch.Generator().manual_seed(config.seed)
        return torch.randn((n, 3, h, w), generator=generator) * config.noise
    if init == "top-patch":
        if patches is None or len(patches) != n:
            raise ValueError("a top-patch start needs one patch per unit")
        out = torch.stack([torch.from_numpy(np.ascontiguousarray(p, np.float32)).permute(2, 0, 1) for p in patches])
        if tuple(out.shape[2:]) != (h, w):
            raise ValueError(f"patches must cover the receptive field ({h}×{w}), got {tuple(out.shape[2:])}")
        return out - GRAY
    raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")


def ascend(probe: UnitProbe, targets: list[ProbeTarget], init: str = "zeros", config: AscentConfig = AscentConfig(),
           patches: list[np.ndarray] | None = None, progress=None) -> list[Stimulus]:
    """Gradient ascent for units of one layer at one position, as one batch. ``patches``: for the
    top-patch start, one (h, w, 3) patch in [0, 1] per target. ``progress``: called with each step."""
    if not targets:
        return []
    first = targets[0]
    if any((t.layer, t.position) != (first.layer, first.position) for t in targets):
        raise ValueError("ascend takes units of one layer at one position; call it once per position")
    side, inner, field, box = place(probe, first)
    t, l, b, r = box
    start = _starts(init, len(targets), (b - t, r - l), config, patches)
    units = torch.tensor([target.unit for target in targets])
    row, column = inner.position
    curve = []
    with torch.inference_mode(False), torch.enable_grad():
        delta = start.clone().requires_grad_(True)
        optimizer = (torch.optim.SGD([delta], lr=config.lr) if config.optimizer == "sgd"
                     else torch.optim.Adam([delta], lr=config.lr))
        for step in range(config.steps + 1):
            maps = probe.responses(frames_with(delta, side, box), inner.layer)
            response = maps[torch.arange(len(targets), device=maps.device), units.to(maps.device), row, column]
            curve.append(response.detach().cpu().numpy())
            if step == config.steps:
                break
            grad, = torch.autograd.grad(-response.sum(), delta)
            delta.grad = grad
            optimizer.step()
            if progress is not None:
                progress(step)
        final = delta.detach()
    curves = np.stack(curve, axis=1)
    to_numpy = lambda x: x.permute(1, 2, 0).cpu().numpy().astype(np.float32)  # noqa: E731
    return [Stimulus(target, field, init, to_numpy(s), to_numpy(f), curves[i])
            for i, (target, s, f) in enumerate(zip(targets, start, final))]


def response_of(probe: UnitProbe, target: ProbeTarget, patch: np.ndarray) -> float:
    """The unit's response to ``patch`` (h, w, 3 in [0, 1], its receptive field) in a gray frame."""
    side, inner, _, box = place(probe, target)
    x = torch.from_numpy(np.ascontiguousarray(patch, np.float32)).permute(2, 0, 1)[None] - GRAY
    with torch.no_grad():
        row, column = inner.position
        return float(probe.responses(frames_with(x, side, box), inner.layer)[0, inner.unit, row, column])


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two images (nan where either is constant)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else float("nan")


def shown(image: np.ndarray, symmetric: bool = True) -> np.ndarray:
    """A deviation from gray as uint8 RGB: gray 128 at zero, scaled so the largest |value| reaches the end
    of the range (``symmetric``), else min…max stretched to 0…255."""
    image = np.asarray(image, np.float32)
    if symmetric:
        peak = float(np.abs(image).max())
        out = 0.5 + 0.5 * image / peak if peak > 0 else np.full_like(image, 0.5)
    else:
        lo, hi = float(image.min()), float(image.max())
        out = (image - lo) / (hi - lo) if hi > lo else np.full_like(image, 0.5)
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


def enlarged(image: np.ndarray, at_least: int = 128) -> np.ndarray:
    """Nearest-neighbour enlargement by a whole factor so the image is at least ``at_least`` pixels wide."""
    factor = max(1, -(-at_least // max(1, image.shape[1])))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
