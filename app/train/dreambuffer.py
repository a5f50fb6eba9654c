"""A pool of dreams in progress, so training sees the loop far from its start.

Every training step takes a few dreams from the pool, runs them some more steps of the loop (with
gradients) and puts them back; now and then a dream is restarted from the engine's noise. The pool
therefore holds dreams of every age from the first step to hundreds of steps, like the ones the app
shows, without unrolling hundreds of steps at once.

Split over a team of processes, every process holds the whole pool and draws the same dreams; each
runs its rows of them, and all the rows come back to every process's pool, so that the pools stay
one and a run resumes on any number of processes.
"""

from __future__ import annotations

import torch

from app.models.base import LayerStack
from app.loop import mirror as loop
from app.train.distributed import ALONE, Team


class DreamBuffer:
    def __init__(self, model: LayerStack, capacity: int, size: int, restart: float,
                 device: torch.device | str, seed: int = 0, team: Team = ALONE):
        self.model = model
        self.team = team
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
        """``count`` dreams in all, some of them restarted from noise: (their indices, and this process's
        rows of their prediction and states)."""
        index = torch.randperm(self.capacity, generator=self.generator)[:count]
        restart = index[torch.rand(len(index), generator=self.generator) < self.restart]
        if len(restart):
            where = restart.to(self.device)
            self.prediction[where], states = loop.noise_start(self.model, len(restart), self.size,
                                                                self.generator, self.device)
            for pool, fresh in zip(self.states, states):
                pool[where] = fresh
            self.age[restart] = 0
        where = self.team.rows(index).to(self.device)
        return index, self.prediction[where], [s[where] for s in self.states]

    def put(self, index: torch.Tensor, prediction: torch.Tensor, states: list[torch.Tensor], steps: int) -> None:
        """The dreams ``take`` gave, moved on: this process's rows (every process's, in a team)."""
        where = index.to(self.device)
        self.prediction[where] = self.team.gather(prediction.detach()).to(self.prediction.dtype)
        for pool, s in zip(self.states, states):
            pool[where] = self.team.gather(s.detach()).to(pool.dtype)
        self.age[index] += steps

    def state_dict(self) -> dict:
        return {"prediction": self.prediction.cpu(), "states": [s.cpu() for s in self.states], "age": self.age}

    def load_state_dict(self, state: dict) -> None:
        if state["prediction"].shape != self.prediction.shape:
            return  # another size or capacity: keep the fresh pool
        self.prediction = state["prediction"].to(self.device)
        self.states = [s.to(self.device) for s in state["states"]]
        self.age = state["age"]
