"""A PVM as the survey dreams it, one start at a time (``app.models.base.InTurnDreamer``), and the
frame a dream feeds back.

A frame-level dream feeds the model its own predicted frame. Fresh (``feed_lag`` 0, the default),
every dreaming step the bottom layer reads the prediction it made of that very step's frame, as every
unit of the original reads its own prediction in its deep dream. With ``feed_lag`` k > 0 the frame is
the predicted frame of k steps before that. The original's manager feeds its dream two steps late:
``PVM_Manager.fast_action`` copies the predicted frame its units published in the step just run,
``process_flags`` makes it the frame during the next step, and the step after that reads it, by
which time it is the prediction of the frame two steps back (k = 2 in this model, whose step
returns the prediction of the next frame at once).
"""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor

from app.models.pvm.model import PVM, StepResult

DREAMS = ("deep", "full")
# the entries of PVM.state_dict that hold weights and their momentum; the rest is activity and the step count
WEIGHT_ENTRIES = ("z1", "ring_x", "ring_d", "w2", "v2", "ring_slot")


class FrameFeed:
    """Steps a PVM, remembering its predicted frames, so that a dream can feed one back ``lag`` steps
    late. Until it has seen lag + 1 predictions it feeds the oldest it has (none: the fresh one)."""

    def __init__(self, pvm: PVM, lag: int = 0):
        if lag < 0:
            raise ValueError(f"feed_lag must be a step count ≥ 0, got {lag}")
        self.pvm, self.lag = pvm, lag
        self._predicted: deque[Tensor] = deque(maxlen=lag + 1)

    def clear(self) -> None:
        self._predicted.clear()

    def snapshot(self) -> list[Tensor]:
        """The predicted frames it remembers, for ``restore`` with the model's state of the same step."""
        return list(self._predicted)

    def restore(self, snapshot: list[Tensor]) -> None:
        self._predicted = deque(snapshot, maxlen=self.lag + 1)

    def step(self, frame: Tensor) -> StepResult:
        """A step that reads ``frame`` (3, S, S)."""
        return self._keep(self.pvm.step(frame))

    def dream(self, frame: Tensor, factors: list[float]) -> StepResult:
        """A dreaming step: layer l reads ``factors[l]``·(its own prediction) + (1 − factors[l])·(its
        signal). With a lag, the bottom layer reads the frame ``factors[0]``·(the predicted frame of
        lag steps before its own prediction) + (1 − factors[0])·``frame`` instead."""
        if self.lag and factors[0] and self._predicted:
            stale = self._predicted[0].permute(2, 0, 1)
            frame = stale if factors[0] == 1 else frame.lerp(stale, factors[0])
            factors = [0.0, *factors[1:]]
        return self._keep(self.pvm.step(frame, dream=factors))

    def _keep(self, result: StepResult) -> StepResult:
        if self.lag:
            self._predicted.append(result.predicted_frame)
        return result


class PVMDreamer:
    def __init__(self, pvm: PVM, feed_lag: int = 0):
        self.pvm = pvm
        self.frame_size = pvm.spec.frame_size
        self.feed = FrameFeed(pvm, feed_lag)

    def snapshot(self) -> dict[str, torch.Tensor]:
        return self.pvm.state_dict()

    def restore(self, snapshot: dict[str, torch.Tensor]) -> None:
        self.pvm.load_state_dict(snapshot)
        self.feed.clear()

    def with_weights_of(self, snapshot, weights_from):
        return {k: weights_from[k] if k.split(".")[-1] in WEIGHT_ENTRIES else v for k, v in snapshot.items()}

    def hold(self, frame: torch.Tensor, steps: int) -> torch.Tensor:
        self.pvm.learning = False
        for _ in range(steps):
            result = self.feed.step(frame)
        return result.predicted_frame

    def dream_step(self, frame: torch.Tensor, how: str) -> tuple[torch.Tensor, torch.Tensor]:
        if how not in DREAMS:
            raise ValueError(f"dream must be one of {DREAMS}, got {how!r}")
        layers = self.pvm.spec.n_layers
        factors = [1.0] * layers if how == "deep" else [1.0] + [0.0] * (layers - 1)
        result = self.feed.dream(frame, factors)
        return result.predicted_frame, result.hidden[-1]

    def learn(self, rate: float | None) -> None:
        self.pvm.learning = rate is not None
        self.pvm.learning_rate = rate

    def weights(self) -> dict[str, torch.Tensor]:
        groups = ("bottom layer", "layers above")
        return {name: torch.cat([w1.flatten(), g.w2.flatten()])
                for name, w1, g in zip(groups, self.pvm.input_weights(), self.pvm.groups)}
