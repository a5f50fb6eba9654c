"""Where a dream is going: fixed point, cycle, or still wandering.

The detector sees one signature per step — a compact vector of the loop's state (the prediction,
downsampled, and the top layer) — and compares it with its recent past:

* fixed point: the per-step change ‖s_t − s_{t−1}‖ stays under ``tolerance`` for ``patience`` steps;
* cycle of period p: ‖s_t − s_{t−p}‖ stays under ``tolerance`` for ``patience`` steps while the
  per-step change does not (the smallest such p ≤ ``max_period`` is reported);
* otherwise the dream is still wandering.

Distances are RMS over the signature's entries, so the tolerance does not depend on its size.
``BatchDetector`` follows many dreams at once (a basin survey); ``AttractorDetector`` follows one.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

WANDERING, FIXED_POINT, CYCLE = "wandering", "fixed point", "cycle"


@dataclass(frozen=True)
class Verdict:
    kind: str
    since: int | None = None     # the step from which the attractor holds
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


class BatchDetector:
    """Detects attractors in B dreams at once from (B, D) signatures, one call per step."""

    def __init__(self, batch: int, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        self.batch = batch
        self._past: collections.deque[np.ndarray] = collections.deque(maxlen=self.config.max_period)
        # runs[b, p]: consecutive recent steps at which dream b matched itself p steps earlier
        self._runs = np.zeros((batch, self.config.max_period + 1), dtype=np.int64)
        self.last_change = np.full(batch, np.nan)

    def reset(self) -> None:
        self._past.clear()
        self._runs[:] = 0
        self.last_change[:] = np.nan

    def update(self, step: int, signatures: np.ndarray) -> list[Verdict]:
        s = np.asarray(signatures, dtype=np.float64).reshape(self.batch, -1)
        if self._past:
            past = np.stack(list(reversed(self._past)), axis=1)                            # (B, lags, D), lag 1 first
            distances = np.sqrt(np.mean((s[:, None, :] - past) ** 2, axis=2))               # (B, lags)
            lags = distances.shape[1]
            self.last_change = distances[:, 0]
            close = distances < self.config.tolerance
            self._runs[:, 1:lags + 1] = np.where(close, self._runs[:, 1:lags + 1] + 1, 0)
        self._past.append(s)
        return [self._judge(step, b) for b in range(self.batch)]

    def _judge(self, step: int, b: int) -> Verdict:
        patience, runs = self.config.patience, self._runs[b]
        if runs[1] >= patience:
            return Verdict(FIXED_POINT, since=step - int(runs[1]))
        periods = np.nonzero(runs[2:] >= patience)[0]
        if len(periods):
            p = int(periods[0]) + 2
            return Verdict(CYCLE, since=step - int(runs[p]) - p + 1, period=p)
        return Verdict(WANDERING)


class AttractorDetector:
    """One dream's detector, with the history of its per-step change."""

    def __init__(self, config: DetectorConfig | None = None):
        self._batch = BatchDetector(1, config)
        self.verdict = Verdict(WANDERING)
        self.changes: collections.deque[float] = collections.deque(maxlen=4096)

    @property
    def config(self) -> DetectorConfig:
        return self._batch.config

    def reset(self) -> None:
        self._batch.reset()
        self.verdict = Verdict(WANDERING)
        self.changes.clear()

    def update(self, step: int, signature: np.ndarray) -> Verdict:
        self.verdict = self._batch.update(step, np.asarray(signature).reshape(1, -1))[0]
        if not np.isnan(self._batch.last_change[0]):
            self.changes.append(float(self._batch.last_change[0]))
        return self.verdict


def signature(prediction: np.ndarray, top_layer: np.ndarray, side: int = 32) -> np.ndarray:
    """The prediction block-averaged to side×side, then the top layer, in one vector."""
    h, w, c = prediction.shape
    f = max(1, h // side)
    small = prediction[: h - h % f, : w - w % f].reshape(h // f, f, w // f, f, c).mean(axis=(1, 3))
    return np.concatenate([small.ravel(), np.asarray(top_layer, np.float64).ravel()])
