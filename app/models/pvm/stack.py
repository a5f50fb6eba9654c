"""The Predictive Vision Model as a layer stack the engine can run and the GLSL mixer can mix.

Feature layer l (1 … L−1) of the stack is the signal PVM layer l reads: an image of the hidden
states of layer l − 1. Its bottom-up drive is that signal as it just came out of layer l − 1; its
top-down drive is layer l's own prediction of it. The mixer's output is what layer l reads at the
next step — with the default gains (bottom-up 1, top-down 0) the plain PVM, with top-down 1 the
original's deep dream (every unit reads its own prediction), in between a partial dream per layer.
PVM's own controls (learning, learning rate, context lesions, sleep) come from the registry.
"""

from __future__ import annotations

import collections

import numpy as np
import torch

from app.models.base import Capabilities, Curve, Drives, GridRow, StepContext
from app.models.sleep import Sleep
from app.models.pvm.model import PVM, StepResult
from app.params import Registry

# signals, predictions and their difference share one scale so they compare: [0, 1] and [0, 0.5]
# map to black … white
GRID_ROWS = (GridRow("signal", "up", scale=(0.5, 0.5)), GridRow("prediction", "down", scale=(0.5, 0.5)),
             GridRow("error", "up", minus="down", scale=(0.25, 0.25)))
LEARNING_TREND = 10             # points of the learning curve in its trailing mean


def _image_to_layer(image: torch.Tensor) -> torch.Tensor:
    """(H, W, C) → (1, C, H, W)."""
    return image.permute(2, 0, 1).unsqueeze(0)


class ErrorCurve:
    """The frame's mean prediction error per ``every`` steps, against the model's step: the panel's
    learning curve. Errors add up on the device; one value is read back per point."""

    def __init__(self, every: int = 100, points: int = 5000):
        self.every = every
        self.steps: collections.deque[int] = collections.deque(maxlen=points)
        self.errors: collections.deque[float] = collections.deque(maxlen=points)
        self._sum: torch.Tensor | None = None
        self._count = 0

    def add(self, step: int, frame_error: torch.Tensor) -> None:
        self._sum = frame_error if self._sum is None else self._sum + frame_error
        self._count += 1
        if self._count == self.every:
            self.steps.append(step)
            self.errors.append(float(self._sum) / self._count)
            self._sum, self._count = None, 0

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.steps, np.float64), np.array(self.errors, np.float64)

    def trend(self, points: int) -> np.ndarray:
        """Per point, the mean of it and the ``points`` − 1 before it (fewer at the start)."""
        sums = np.concatenate([[0.0], np.cumsum(self.errors)])
        ends = np.arange(1, len(self.errors) + 1)
        starts = np.maximum(ends - points, 0)
        return (sums[ends] - sums[starts]) / (ends - starts)


class PVMStack:
    """A PVM as the loop runs it (``app.models.base.DreamingModel``)."""

    def __init__(self, pvm: PVM):
        self.pvm = pvm
        spec = pvm.spec
        self.channels = tuple(1 for _ in spec.layer_shapes[1:])
        self.last: StepResult | None = None
        self.sleep = Sleep()
        self.curve = ErrorCurve()
        self.capabilities = Capabilities(
            fixed_size=spec.frame_size, graphable=False, compute_dtype=torch.float32, grid_rows=GRID_ROWS,
            learns=True, predicts_input=True, code_operations=False, encodes=False, batched=False, inner_steps=True)

    def layer_shapes(self, size: int) -> list[tuple[int, int, int]]:
        spec = self.pvm.spec
        return [(1, b * spec.hidden_block_size, b * spec.hidden_block_size) for b in spec.layer_shapes[:-1]]

    def noise_states(self, size, generator=None, device="cpu") -> list[torch.Tensor]:
        return [torch.rand((1, *shape), generator=generator).to(device) for shape in self.layer_shapes(size)]

    def placed(self, device: torch.device, dtype: torch.dtype) -> PVMStack:
        self.pvm.to(device)         # a PVM computes in float32 whatever the loop's precision
        return self

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError("a PVM's layer states come from stepping it, not from an encoding")

    def apply_controls(self, registry: Registry, image_change: float | None) -> None:
        p = registry
        self.pvm.learning = p["pvm.learning"]
        self.pvm.lateral, self.pvm.feedback = p["pvm.lateral"], p["pvm.feedback"]
        self.pvm.global_context = p["pvm.global_context"]
        rate = None if p["pvm.schedule"] else p["pvm.learning_rate"]
        if not p["pvm.sleep"] or image_change is None:
            self.sleep.reset()
        elif self.sleep.update(image_change, p["pvm.sleep_threshold"], p["pvm.sleep_patience"]):
            rate = -p["pvm.sleep_rate"]
        self.pvm.learning_rate = rate

    @property
    def sleeping(self) -> bool:
        return self.sleep.sleeping

    def drives(self, image: torch.Tensor, states: list[torch.Tensor], context: StepContext | None = None) -> Drives:
        if context is not None:
            p = context.registry
            self.apply_controls(p, context.last_image_change() if p["pvm.sleep"] else None)
        inputs = {l: s[0, 0] for l, s in enumerate(states, 1)} if context is not None and context.mixed else None
        return self._drives_of(self._stepped(self.pvm.step(image[0].float(), layer_inputs=inputs, images=True)))

    def takes_inner_steps(self, context: StepContext) -> bool:
        return not context.registry["pvm.sleep"]     # sleep reads the change of every step's prediction

    def inner_steps(self, frames: torch.Tensor, context: StepContext) -> Drives:
        """Plain steps (every layer reads the layer below), captured as CUDA graphs on a GPU; all but
        the last without the images a loop shows."""
        self.apply_controls(context.registry, None)
        for frame in frames[:-1]:
            self._stepped(self.pvm.step(frame))
        return self._drives_of(self._stepped(self.pvm.step(frames[-1], images=True)))

    def _stepped(self, result: StepResult) -> StepResult:
        self.last = result
        self.curve.add(result.step, result.layer_errors[0])
        return result

    def _drives_of(self, result: StepResult) -> Drives:
        layers = range(1, self.pvm.spec.n_layers)
        return Drives(up=[_image_to_layer(result.hidden[l - 1]) for l in layers],
                      down=[_image_to_layer(result.next_prediction[l]) for l in layers],
                      prediction=_image_to_layer(result.predicted_frame),
                      seen_prediction=_image_to_layer(result.prediction[0]))

    def status(self) -> str:
        pvm = self.pvm
        rates = pvm.learning_rates()
        lateral, feedback, global_ = pvm.context_factors()
        flags = " ".join(f"{name} {'on' if on else 'off'}" for name, on in
                         (("lateral", lateral), ("feedback", feedback), ("global", global_)))
        state = "sleeping" if self.sleeping else ("learning" if any(rates) else "frozen")
        return (f"PVM step {pvm.steps}  {state}  lr {max(rates, key=abs):.2g}  {flags}"
                + (f"  sleeps {self.sleep.episodes}" if self.sleep.episodes else ""))

    def curves(self) -> list[Curve]:
        steps, errors = self.curve.arrays()
        if len(steps) < 2:
            return []
        every = self.curve.every
        return [Curve("learning: mean |frame - prediction|", "PVM step",
                      {f"per {every} steps": (steps, errors),
                       f"per {LEARNING_TREND * every} steps": (steps, self.curve.trend(LEARNING_TREND))})]

    def later_prediction(self) -> torch.Tensor | None:
        return None if self.last is None else self.last.predicted_frame_t2

    def prober(self, size: int):
        """Its units through their fan-in hierarchy, with its weights and context as they are now."""
        from app.models.pvm.probe import PVMProbe
        return PVMProbe(self.pvm)
