"""Per-stage wall-clock timings of the loop (exponential moving averages, in milliseconds)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable


class StageTimer:
    def __init__(self, sync: Callable[[], None] | None = None, smoothing: float = 0.05):
        self.sync = sync
        self.smoothing = smoothing
        self.ms: dict[str, float] = {}
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.sync is not None:
                self.sync()
            self.add(stage, (time.perf_counter() - start) * 1000.0)

    def add(self, stage: str, ms: float) -> None:
        old = self.ms.get(stage)
        self.ms[stage] = ms if old is None else old + self.smoothing * (ms - old)
        self.totals[stage] = self.totals.get(stage, 0.0) + ms
        self.counts[stage] = self.counts.get(stage, 0) + 1

    def means(self) -> dict[str, float]:
        """Mean ms per call of every stage since the last reset."""
        return {k: self.totals[k] / self.counts[k] for k in self.totals}

    def reset(self) -> None:
        self.ms.clear()
        self.totals.clear()
        self.counts.clear()
