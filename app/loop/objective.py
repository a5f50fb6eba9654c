"""Dreaming toward a unit: gradient ascent on the step's input, DeepDream style, one more operation of the
step beside lesions, occluders and the drive operations.

Each step, before the model reads the composite x, x moves up the gradient of an objective: the probed
unit's response (``probe.layer``, ``probe.unit`` at ``probe.x``, ``probe.y``), the mean of its channel
over the layer (for a PVM: that hidden neuron in every unit of the layer) or the mean square of the whole
layer (DeepDream's objective). The gradient is normalised by its mean magnitude where it is not zero, so
``objective.strength`` is the typical change of a pixel per step; the image is shifted by a random jitter
of up to ``objective.jitter`` pixels while the gradient is taken (DeepDream's trick against grid
artefacts), and with ``objective.octaves`` > 1 the gradients of the image scaled down by
``objective.octave_scale`` per octave are added (a model that reads one size takes one octave). With the
feedback zoom on, the loop dreams, zooms and dreams again: DeepDream's infinite zoom.

The step runs under ``torch.inference_mode``; the objective takes its gradient outside it, for its own
part only. At strength 0 the engine does not call it: the step is the same kernels as without it (and
its CUDA graph the same graph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from app.models.probing import ProbeTarget, UnitProbe, probe_layer
from app.params import Registry

TARGETS = ("unit", "channel", "layer")


def target_of(probe: UnitProbe, registry: Registry) -> ProbeTarget:
    """The unit the registry's ``probe.*`` parameters select (ValueError where the model has no such one)."""
    layer = probe_layer(probe, str(registry["probe.layer"]))
    unit = registry["probe.unit"]
    if unit >= layer.units:
        raise ValueError(f"layer {layer.name} has units 0 to {layer.units - 1}, not {unit} (probe.unit)")
    rows, columns = layer.grid
    return ProbeTarget(layer.name, unit, (min(rows - 1, int(registry["probe.y"] * rows)),
                                          min(columns - 1, int(registry["probe.x"] * columns))))


def objective(probe: UnitProbe, images: torch.Tensor, target: ProbeTarget, how: str) -> torch.Tensor:
    """(B,) the value to raise. On a frame of another size than the probe's (an octave), the unit is the one
    at the same place in the layer's grid."""
    maps = probe.responses(images, target.layer)
    if how == "unit":
        layer = probe_layer(probe, target.layer)
        row = min(maps.shape[2] - 1, target.position[0] * maps.shape[2] // layer.grid[0])
        column = min(maps.shape[3] - 1, target.position[1] * maps.shape[3] // layer.grid[1])
        return maps[:, target.unit, row, column]
    if how == "channel":
        return maps[:, target.unit].mean(dim=(1, 2))
    if how == "layer":
        return maps.square().mean(dim=(1, 2, 3))
    raise ValueError(f"objective.target must be one of {', '.join(TARGETS)}, got {how!r}")


def toward(image: torch.Tensor, probe: UnitProbe, target: ProbeTarget, registry: Registry,
           generator: torch.Generator) -> torch.Tensor:
    """``image`` (1, 3, S, S) in [0, 1] after one step of ascent on the objective (same dtype and device)."""
    strength, how = registry["objective.strength"], registry["objective.target"]
    jitter = registry["objective.jitter"]
    octaves = registry["objective.octaves"] if probe.resizable else 1
    scale = registry["objective.octave_scale"]
    dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator)) if jitter else (0, 0)
    with torch.inference_mode(False), torch.enable_grad():
        x = image.detach().clone().float()
        shifted = torch.roll(x, (dy, dx), (2, 3)) if jitter else x
        total = torch.zeros_like(x)
        for octave in range(octaves):
            if octave == 0:
                xs = shifted.detach().requires_grad_(True)
            else:
                factor = scale ** -octave
                small = F.interpolate(shifted, scale_factor=factor, mode="bilinear", align_corners=False)
                xs = small.detach().requires_grad_(True)
            grad, = torch.autograd.grad(objective(probe, xs, target, how).sum(), xs)
            if octave:
                grad = F.interpolate(grad, size=x.shape[-2:], mode="bilinear", align_corners=False)
            magnitude = grad.abs()
            nonzero = (magnitude > 0).sum().clamp(min=1)
            total += grad / (magnitude.sum() / nonzero + 1e-12)
        if jitter:
            total = torch.roll(total, (-dy, -dx), (2, 3))
        out = (x + strength / octaves * total).clamp_(0, 1)
    return out.to(image.dtype)
