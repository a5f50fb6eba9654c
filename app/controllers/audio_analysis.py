"""What the sound is doing, block by block: band levels, loudness and onsets.

The samples are cut into windows of about 23 ms every half window. Each level (low, mid, high,
loudness) is an amplitude divided by its own recent peak (an automatic gain that halves its peak in
GAIN_HALF_LIFE_S of quiet), so it reads 0…1 whatever the volume; it rises at once and falls back over
RELEASE_S. An onset is a jump of spectral flux above twice its median of the last half second plus a
margin the sensitivity sets; the flux is the rise, in dB summed over eight octave-wide bands, of the
energy over its highest in the last three windows (so the flicker of noise does not count as rises).
"""

from __future__ import annotations

import collections
import math

import numpy as np

LEVEL_BANDS = {"low": (20.0, 250.0), "mid": (250.0, 2000.0), "high": (2000.0, 16000.0)}
LEVELS = (*LEVEL_BANDS, "loudness")
FEATURES = (*LEVELS, "onset")
ONSET_EDGES = (0.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)   # octave bands (the last to Nyquist)
WINDOW_S = 0.023
GAIN_HALF_LIFE_S = 8.0
RELEASE_S = 0.06
FLOOR = 1e-3                     # an amplitude under this (−60 dB of full scale) counts as silence
FLOOR_DB = -80.0
MEDIAN_S = 0.5
FLUX_LAG = 3                     # windows the energy must rise above (noise's flicker stays under their highest)
MIN_HISTORY = 4                  # hops of flux before onsets count (the first windows rise from nothing)
REFRACTORY_S = 0.08              # onsets closer than this are one


def margin_db(sensitivity: float) -> float:
    """How far (dB of summed band rise) the flux must jump over twice its median: 22 dB at sensitivity 0,
    12 at 0.5, 2 at 1."""
    return 2.0 + 20.0 * (1.0 - min(1.0, max(0.0, sensitivity)))


class AudioAnalysis:
    def __init__(self, rate: int):
        self.rate = rate
        self.window = 2 ** max(8, round(math.log2(rate * WINDOW_S)))
        self.hop = self.window // 2
        self.sensitivity = 0.5
        self.levels = {name: 0.0 for name in LEVELS}
        self.onsets = 0                         # onsets found since the count was last taken
        self.analysed = 0                       # samples analysed so far
        self._buffer = np.zeros(self.window - self.hop, np.float32)   # hop k's window ends at sample (k+1)·hop
        self._taper = np.hanning(self.window).astype(np.float32)
        self._power_scale = 2.0 / (self.window * float(np.sum(self._taper ** 2)))
        freqs = np.fft.rfftfreq(self.window, 1.0 / rate)
        self._level_bins = [(freqs >= lo) & (freqs < hi) for lo, hi in LEVEL_BANDS.values()]
        edges = [e for e in ONSET_EDGES if e < rate / 2]
        self._onset_band = np.digitize(freqs, edges[1:])
        self._onset_bands = len(edges)
        self._peaks = {name: FLOOR for name in LEVELS}
        self._decay = 0.5 ** (self.hop / rate / GAIN_HALF_LIFE_S)
        self._fall = math.exp(-self.hop / rate / RELEASE_S)
        self._recent_db: collections.deque = collections.deque(maxlen=FLUX_LAG)
        self._flux: collections.deque = collections.deque(maxlen=max(MIN_HISTORY, round(MEDIAN_S * rate / self.hop)))
        self._was_above = False
        self._quiet_hops = math.inf             # hops since the last onset

    def feed(self, samples: np.ndarray) -> None:
        """Analyse ``samples`` (mono float, −1…1), every whole hop of them; the rest waits for more."""
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.float32).ravel()])
        hops = (len(self._buffer) - (self.window - self.hop)) // self.hop
        for k in range(hops):
            self._analyse(self._buffer[k * self.hop:k * self.hop + self.window])
        self._buffer = self._buffer[hops * self.hop:]
        self.analysed += hops * self.hop

    def take_onsets(self) -> int:
        count, self.onsets = self.onsets, 0
        return count

    def _analyse(self, window: np.ndarray) -> None:
        power = np.abs(np.fft.rfft(window * self._taper)) ** 2 * self._power_scale
        amplitudes = [math.sqrt(float(power[bins].sum())) for bins in self._level_bins]
        amplitudes.append(math.sqrt(float(np.mean(window ** 2))))
        for name, amplitude in zip(LEVELS, amplitudes):
            peak = self._peaks[name] = max(amplitude, self._peaks[name] * self._decay, FLOOR)
            level = amplitude / peak
            self.levels[name] = level if level >= self.levels[name] else \
                level + (self.levels[name] - level) * self._fall
        bands = np.bincount(self._onset_band, weights=power, minlength=self._onset_bands)
        db = 10.0 * np.log10(np.maximum(bands, 10 ** (FLOOR_DB / 10)))
        self._quiet_hops += 1
        if self._recent_db:
            flux = float(np.maximum(db - np.max(self._recent_db, axis=0), 0.0).sum())
            threshold = 2.0 * float(np.median(self._flux)) + margin_db(self.sensitivity) if self._flux else math.inf
            above = len(self._flux) >= MIN_HISTORY and flux > threshold
            if above and not self._was_above and self._quiet_hops * self.hop >= REFRACTORY_S * self.rate:
                self.onsets += 1
                self._quiet_hops = 0
            self._was_above = above
            self._flux.append(flux)
        self._recent_db.append(db)
