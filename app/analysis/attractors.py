"""Where a dream is going: fixed point, cycle, or still wandering.

The detector sees one signature per step — a compact vector of the loop's state (the prediction,
downsampled, and the top layer) — and compares it with its recent past:

* fixed point: the per-step change ‖s_t − s_{t−1}‖ stays under ``tolerance`` for ``patience`` steps;
* cycle of period p: ‖s_t − s_{t−p}‖ stays under ``tolerance`` for ``patience`` steps while the
  per-step change does not (the smallest such p ≤ ``max_period`` is reported);
* otherwise the dream is still wandering.

Distances are RMS over the signature's entries, so the tolerance does not depend on its size. With
``relative`` (the window's detector) they are also measured against the dream's own scale: the
signature is cut into parts (``signature_parts``: the prediction and the top layer), each part's RMS
change is divided by that part's spread (the RMS deviation of its entries from their mean, at least
``MIN_SPREAD``), and the distance is the largest of the parts'. A relative tolerance of 0.02 is then
"neither the picture nor the top layer changes by 2 % of its own contrast in a step", whatever the
image size, the model, or how many entries the top layer has next to the prediction. (Measured with
the retired ae-tiny at 128²: a dream wandering from noise changes by 20–35 % of its spread per step;
one whose pattern scrolls slowly across the frame by about 4 %; a held photo settles under 1 %.)

``BatchDetector`` follows many dreams at once (a basin survey); ``AttractorDetector`` follows one.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

WANDERING, FIXED_POINT, CYCLE = "wandering", "fixed point", "cycle"
MIN_SPREAD = 0.01           # a part flatter than this is measured against this spread
SIGNATURE_SIDE = 32


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
    tolerance: float = 2e-3         # RMS change counted as none (relative: a fraction of the spread)
    patience: int = 20
    max_period: int = 32
    relative: bool = False          # the tolerance is relative to the dream's own scale (see above)


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

    def update(self, step: int, signatures: np.ndarray, parts: tuple[int, ...] | None = None) -> list[Verdict]:
        """``parts``: the lengths of the signature's consecutive parts, for a relative tolerance
        (default: one part); a signature of another length than the last starts the history anew."""
        s = np.asarray(signatures, dtype=np.float64).reshape(self.batch, -1)
        if self._past and self._past[-1].shape != s.shape:
            self.reset()                        # another model or size: another signature
        if self._past:
            past = np.stack(list(reversed(self._past)), axis=1)                            # (B, lags, D), lag 1 first
            squares = (s[:, None, :] - past) ** 2
            if self.config.relative:
                distances = relative_distances(squares, s, parts)                          # (B, lags)
            else:
                distances = np.sqrt(np.mean(squares, axis=2))
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


def relative_distances(squares: np.ndarray, current: np.ndarray, parts: tuple[int, ...] | None) -> np.ndarray:
    """(B, lags) distances from (B, lags, D) squared differences: per part, RMS over its entries divided
    by the part's spread in ``current`` (B, D); the largest of the parts'."""
    bounds = np.cumsum((0, *(parts or (current.shape[1],))))
    if bounds[-1] != current.shape[1]:
        raise ValueError(f"signature parts {parts} do not add up to its length {current.shape[1]}")
    largest = np.zeros(squares.shape[:2])
    for a, b in zip(bounds[:-1], bounds[1:]):
        spread = np.maximum(current[:, a:b].std(axis=1), MIN_SPREAD)                       # (B,)
        largest = np.maximum(largest, np.sqrt(np.mean(squares[:, :, a:b], axis=2)) / spread[:, None])
    return largest


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

    def update(self, step: int, signature: np.ndarray, parts: tuple[int, ...] | None = None) -> Verdict:
        self.verdict = self._batch.update(step, np.asarray(signature).reshape(1, -1), parts)[0]
        if not np.isnan(self._batch.last_change[0]):
            self.changes.append(float(self._batch.last_change[0]))
        return self.verdict


def signature(prediction: np.ndarray, top_layer: np.ndarray, side: int = SIGNATURE_SIDE) -> np.ndarray:
    """The prediction block-averaged to side×side, then the top layer, in one vector."""
    h, w, c = prediction.shape
    f = max(1, h // side)
    small = prediction[: h - h % f, : w - w % f].reshape(h // f, f, w // f, f, c).mean(axis=(1, 3))
    return np.concatenate([small.ravel(), np.asarray(top_layer, np.float64).ravel()])


def signature_parts(prediction_shape: tuple[int, ...], top_size: int, side: int = SIGNATURE_SIDE) -> tuple[int, int]:
    """The lengths of ``signature``'s two parts: the block-averaged prediction, the top layer."""
    h, w, c = prediction_shape
    f = max(1, h // side)
    return (h // f) * (w // f) * c, int(top_size)
