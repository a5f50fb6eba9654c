"""Where a dream is going: fixed point, cycle, or still wandering.

The detector sees one signature per step — a compact vector of the loop's state (the prediction,
downsampled, and the top layer) — and compares it with its recent past:

* fixed point: the per-step change ‖s_t − s_{t−1}‖ stays under ``tolerance`` for ``patience`` steps;
* cycle of period p: ‖s_t − s_{t−p}‖ stays under ``tolerance`` for ``patience`` steps while the
  per-step change does not (the smallest such p ≤ ``max_period`` is reported);
* otherwise the dream is still wandering.

Distances are RMS over the signature's entries, so the tolerance does not depend on its size.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

WANDERING, FIXED_POINT, CYCLE = "wandering", "fixed point", "cycle"


@dataclass(frozen=True)
class Verdict:
    kind: str
    since: int | None = None     # first step of the run of steps that proved it
    period: int | None = None

    def describe(self) -> str:
        if self.kind == FIXED_POINT:
            return f"fixed point since step {self.since}"
        if self.kind == CYCLE:
            return f"cycle of period {self.period} since step {self.since}"
        return "still wandering"


@dataclass
class DetectorConfig:
    tolerance: float = 2e-3
    patience: int = 20
    max_period: int = 32


class AttractorDetector:
    def __init__(self, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        c = self.config
        self._past: collections.deque[np.ndarray] = collections.deque(maxlen=c.max_period)
        # for each lag p (1 = per-step change), how many consecutive recent steps matched at that lag
        self._runs = np.zeros(c.max_period + 1, dtype=np.int64)
        self.verdict = Verdict(WANDERING)
        self.changes: collections.deque[float] = collections.deque(maxlen=4096)

    def reset(self) -> None:
        self._past.clear()
        self._runs[:] = 0
        self.verdict = Verdict(WANDERING)
        self.changes.clear()

    def update(self, step: int, signature: np.ndarray) -> Verdict:
        s = np.asarray(signature, dtype=np.float64).ravel()
        c = self.config
        if self._past:
            lags = range(1, len(self._past) + 1)
            distances = np.array([np.sqrt(np.mean((s - self._past[-p]) ** 2)) for p in lags])
            self.changes.append(float(distances[0]))
            close = distances < c.tolerance
            self._runs[1:len(distances) + 1] = np.where(close, self._runs[1:len(distances) + 1] + 1, 0)
        self._past.append(s)
        self.verdict = self._judge(step)
        return self.verdict

    def _judge(self, step: int) -> Verdict:
        c = self.config
        if self._runs[1] >= c.patience:
            return Verdict(FIXED_POINT, since=step - int(self._runs[1]))
        for p in range(2, c.max_period + 1):
            if self._runs[p] >= c.patience:
                return Verdict(CYCLE, since=step - int(self._runs[p]) - p + 1, period=p)
        return Verdict(WANDERING)


def signature(prediction: np.ndarray, top_layer: np.ndarray, side: int = 32) -> np.ndarray:
    """The prediction block-averaged to side×side, then the top layer, in one vector."""
    h, w, c = prediction.shape
    f = max(1, h // side)
    small = prediction[: h - h % f, : w - w % f].reshape(h // f, f, w // f, f, c).mean(axis=(1, 3))
    return np.concatenate([small.ravel(), np.asarray(top_layer, np.float64).ravel()])
