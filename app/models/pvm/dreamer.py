"""A PVM as the survey dreams it, one start at a time (``app.models.base.InTurnDreamer``)."""

from __future__ import annotations

import torch

from app.models.pvm.model import PVM

DREAMS = ("deep", "full")
# the entries of PVM.state_dict that hold weights and their momentum; the rest is activity and the step count
WEIGHT_ENTRIES = ("z1", "ring_x", "ring_d", "w2", "v2", "ring_slot")


class PVMDreamer:
    def __init__(self, pvm: PVM):
        self.pvm = pvm
        self.frame_size = pvm.spec.frame_size

    def snapshot(self) -> dict[str, torch.Tensor]:
        return self.pvm.state_dict()

    def restore(self, snapshot: dict[str, torch.Tensor]) -> None:
        self.pvm.load_state_dict(snapshot)

    def with_weights_of(self, snapshot, weights_from):
        return {k: weights_from[k] if k.split(".")[-1] in WEIGHT_ENTRIES else v for k, v in snapshot.items()}

    def hold(self, frame: torch.Tensor, steps: int) -> torch.Tensor:
        self.pvm.learning = False
        for _ in range(steps):
            result = self.pvm.step(frame)
        return result.predicted_frame

    def dream_step(self, frame: torch.Tensor, how: str) -> tuple[torch.Tensor, torch.Tensor]:
        if how not in DREAMS:
            raise ValueError(f"dream must be one of {DREAMS}, got {how!r}")
        layers = self.pvm.spec.n_layers
        factors = [1.0] * layers if how == "deep" else [1.0] + [0.0] * (layers - 1)
        result = self.pvm.step(frame, dream=factors)
        return result.predicted_frame, result.hidden[-1]

    def learn(self, rate: float | None) -> None:
        self.pvm.learning = rate is not None
        self.pvm.learning_rate = rate

    def weights(self) -> dict[str, torch.Tensor]:
        groups = ("bottom layer", "layers above")
        return {name: torch.cat([w1.flatten(), g.w2.flatten()])
                for name, w1, g in zip(groups, self.pvm.input_weights(), self.pvm.groups)}
