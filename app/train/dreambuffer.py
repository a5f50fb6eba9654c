"""A pool of dreams in progress, so training sees the loop far from its start.

Every training step takes a few dreams from the pool, runs them some more steps of the loop (with
gradients) and puts them back; now and then a dream is restarted from the engine's noise. The pool
therefore holds dreams of every age from the first step to hundreds of steps, like the ones the app
shows, without unrolling hundreds of steps at once.
"""

from __future__ import annotations

import torch

from app.models.base import LayerStack
from app.loop import mirror as loop


class DreamBuffer:
    def __init__(self, model: LayerStack, capacity: int, size: int, restart: float,
                 device: torch.device | str, seed: int = 0):
        self.model = model
        self.size = size
        self.restart = restart
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self.prediction, self.states = loop.noise_start(model, capacity, size, self.generator, device)
        self.age = torch.zeros(capacity, dtype=torch.long)

    @property
    def capacity(self) -> int:
        return len(self.age)

    def take(self, count: int) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """``count`` dreams: (indices, prediction, states), some of them restarted from noise."""
        index = torch.randperm(self.capacity, generator=self.generator)[:count]
        restart = index[torch.rand(len(index), generator=self.generator) < self.restart]
        if len(restart):
            where = restart.to(self.device)
            self.prediction[where], states = loop.noise_start(self.model, len(restart), self.size,
                                                                self.generator, self.device)
            for pool, fresh in zip(self.states, states):
                pool[where] = fresh
            self.age[restart] = 0
        where = index.to(self.device)
        return index, self.prediction[where], [s[where] for s in self.states]

    def put(self, index: torch.Tensor, prediction: torch.Tensor, states: list[torch.Tensor], steps: int) -> None:
        where = index.to(self.device)
        self.prediction[where] = prediction.detach().to(self.prediction.dtype)
        for pool, s in zip(self.states, states):
            pool[where] = s.detach().to(pool.dtype)
        self.age[index] += steps

    def state_dict(self) -> dict:
        return {"prediction": self.prediction.cpu(), "states": [s.cpu() for s in self.states], "age": self.age}

    def load_state_dict(self, state: dict) -> None:
        if state["prediction"].shape != self.prediction.shape:
            return  # another size or capacity: keep the fresh pool
        self.prediction = state["prediction"].to(self.device)
        self.states = [s.to(self.device) for s in state["states"]]
        self.age = state["age"]
