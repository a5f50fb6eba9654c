"""Probing single units: the probe of the model-kind contract (``DreamingModel.prober``), and a probe of
any stack that encodes.

A *probe layer* is a named place in a model whose values are units on a grid: the loop's feature layers
("1" … "L", numbered as the grid view numbers them) and, where a kind has them, places inside a layer
(an autoencoder's "1.conv1", its first convolution before the activation). A *target* is one unit: a
probe layer, a unit index (a channel; for a PVM, a hidden neuron of one of its units) and a position on
the layer's grid (row, column). Its *receptive field* is the set of input pixels that can change it.

A ``UnitProbe`` computes, differentiably, every unit of a probe layer from a batch of frames, and knows
each unit's receptive field; gradient ascent, top patches, the window's probe and the dream objective
use nothing else of a model. A probe made by ``prober`` reads the model as it is then: ``snapshot``
gives one that later steps of the loop (a PVM that learns, weights moved to another dtype) cannot
change, for work on another thread.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@dataclass(frozen=True)
class ProbeLayer:
    name: str
    units: int                      # units (channels) at every position
    grid: tuple[int, int]           # positions (rows, columns) at the probe's frame size
    description: str = ""
    linear: bool = False            # an affine map of the pixels: gradient ascent gives one image from any start


@dataclass(frozen=True)
class ProbeTarget:
    layer: str
    unit: int
    position: tuple[int, int]       # (row, column) on the layer's grid

    def describe(self) -> str:
        return f"layer {self.layer} unit {self.unit} at ({self.position[0]}, {self.position[1]})"

    def to_dict(self) -> dict:
        return {"layer": self.layer, "unit": self.unit, "position": list(self.position)}


@dataclass(frozen=True)
class ReceptiveField:
    """The input pixels that can change a unit: the box ``[top, bottom) × [left, right)`` in frame
    pixels (it may reach beyond the frame, into the padding) and, where the field is a union of
    smaller boxes (a PVM's fan-in tree of frame blocks), those boxes."""
    top: int
    left: int
    bottom: int
    right: int
    blocks: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.top, self.left, self.bottom, self.right

    def inside(self, height: int, width: int | None = None) -> bool:
        width = height if width is None else width
        return self.top >= 0 and self.left >= 0 and self.bottom <= height and self.right <= width

    def clipped(self, height: int, width: int | None = None) -> ReceptiveField:
        """The part inside a height × width frame."""
        width = height if width is None else width
        clip = lambda t, l, b, r: (max(t, 0), max(l, 0), min(b, height), min(r, width))  # noqa: E731
        blocks = tuple(c for c in (clip(*b) for b in self.blocks) if c[2] > c[0] and c[3] > c[1])
        return ReceptiveField(*clip(*self.box), blocks=blocks)

    def mask(self, height: int, width: int | None = None) -> np.ndarray:
        """(height, width) bool: the pixels of the field inside the frame."""
        width = height if width is None else width
        out = np.zeros((height, width), bool)
        for t, l, b, r in (self.clipped(height, width).blocks or (self.clipped(height, width).box,)):
            out[t:b, l:r] = True
        return out

    def to_dict(self) -> dict:
        return {"top": self.top, "left": self.left, "bottom": self.bottom, "right": self.right,
                "height": self.height, "width": self.width, "blocks": [list(b) for b in self.blocks]}


@runtime_checkable
class UnitProbe(Protocol):
    size: int                       # the frame size the probe's grids and fields are given at
    shared_weights: bool            # every position of a layer computes one function (a convolution)
    resizable: bool                 # reads frames of other sizes too (octaves, compact canvases)

    def layers(self) -> list[ProbeLayer]: ...

    def responses(self, images: torch.Tensor, layer: str) -> torch.Tensor:
        """(B, 3, H, W) frames in [0, 1] → (B, units, rows, columns): every unit of ``layer``,
        differentiable in the frames."""

    def receptive_field(self, target: ProbeTarget) -> ReceptiveField: ...

    def target_at(self, layer: int, channel: int, row: int, column: int) -> ProbeTarget:
        """The unit that a value of the loop's feature layer ``layer`` (its state at ``channel``, ``row``,
        ``column``, as the grid view shows it) belongs to."""

    def state_of(self, target: ProbeTarget) -> tuple[int, int, int, int] | None:
        """Where the loop holds the unit's value: (feature layer, channel, row, column), or None."""

    def compact(self, target: ProbeTarget) -> tuple[int, ProbeTarget, tuple[int, int]]:
        """A smaller frame on which a unit computes the same function of the target's field: (its size,
        that unit, where the frame's top-left corner lies in the probe's frame)."""

    def snapshot(self) -> UnitProbe: ...


def probe_layer(probe: UnitProbe, name: str) -> ProbeLayer:
    """The probe layer called ``name``; a ValueError names the ones there are."""
    layers = probe.layers()
    for layer in layers:
        if layer.name == name:
            return layer
    raise ValueError(f"no layer {name!r} to probe (this model has {', '.join(l.name for l in layers)})")


def check_target(probe: UnitProbe, target: ProbeTarget) -> ProbeLayer:
    """The target's layer, after checking that the unit and position exist (ValueError otherwise)."""
    layer = probe_layer(probe, target.layer)
    if not 0 <= target.unit < layer.units:
        raise ValueError(f"layer {layer.name} has units 0 to {layer.units - 1}, not {target.unit}")
    rows, columns = layer.grid
    row, column = target.position
    if not (0 <= row < rows and 0 <= column < columns):
        raise ValueError(f"layer {layer.name} has positions (0…{rows - 1}, 0…{columns - 1}) at "
                         f"{probe.size}px, not ({row}, {column})")
    return layer


def centre(layer: ProbeLayer) -> tuple[int, int]:
    return layer.grid[0] // 2, layer.grid[1] // 2


def unit_response(probe: UnitProbe, images: torch.Tensor, target: ProbeTarget) -> torch.Tensor:
    """(B,): the target's response to each frame."""
    row, column = target.position
    return probe.responses(images, target.layer)[:, target.unit, row, column]


def gradient_footprint(probe: UnitProbe, target: ProbeTarget, images: torch.Tensor | None = None,
                       trials: int = 2, seed: int = 0) -> np.ndarray:
    """(S, S) bool: the pixels where the target's input gradient is not zero, on ``images`` or on
    ``trials`` random frames (an empirical receptive field)."""
    size = probe.size
    if images is None:
        generator = torch.Generator().manual_seed(seed)
        images = torch.rand((trials, 3, size, size), generator=generator)
    with torch.inference_mode(False), torch.enable_grad():
        x = images.clone().requires_grad_(True)
        grad, = torch.autograd.grad(unit_response(probe, x, target).sum(), x)
        return (grad.abs().sum(dim=(0, 1)) > 0).cpu().numpy()


def footprint_field(mask: np.ndarray) -> ReceptiveField | None:
    """The bounding box of a footprint (None when it is empty)."""
    rows, columns = np.nonzero(mask)
    if not len(rows):
        return None
    return ReceptiveField(int(rows.min()), int(columns.min()), int(rows.max()) + 1, int(columns.max()) + 1)


class EncodingProbe:
    """The probe of any stack whose ``encode`` maps a frame to its feature layers (convolutions: shared
    weights, any frame size). Its receptive fields are the footprints of input gradients on random
    frames; a kind that knows its layers computes them instead (the autoencoder's)."""

    shared_weights = True
    resizable = True

    def __init__(self, model: torch.nn.Module, size: int):
        self.model = model
        self.size = size
        self._fields: dict[ProbeTarget, ReceptiveField] = {}

    @property
    def parameter(self) -> torch.Tensor | None:
        return next(iter(self.model.parameters()), None)

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        p = self.parameter
        return images if p is None else images.to(p.device, p.dtype)

    def layers(self) -> list[ProbeLayer]:
        return [ProbeLayer(str(l), c, (h, w), f"feature layer {l}")
                for l, (c, h, w) in enumerate(self.model.layer_shapes(self.size), 1)]

    def responses(self, images: torch.Tensor, layer: str) -> torch.Tensor:
        probe_layer(self, layer)
        return self.model.encode(self._input(images))[int(layer) - 1].float()

    def receptive_field(self, target: ProbeTarget) -> ReceptiveField:
        if target not in self._fields:
            field = footprint_field(gradient_footprint(self, target))
            row, column = target.position
            self._fields[target] = field or ReceptiveField(row, column, row + 1, column + 1)
        return self._fields[target]

    def target_at(self, layer: int, channel: int, row: int, column: int) -> ProbeTarget:
        return ProbeTarget(str(layer), channel, (row, column))

    def state_of(self, target: ProbeTarget) -> tuple[int, int, int, int] | None:
        if not target.layer.isdigit():
            return None
        return int(target.layer), target.unit, *target.position

    def compact(self, target: ProbeTarget) -> tuple[int, ProbeTarget, tuple[int, int]]:
        return self.size, target, (0, 0)

    def snapshot(self) -> EncodingProbe:
        clone = copy.deepcopy(self)
        clone.model.requires_grad_(False)
        return clone
