"""A probed unit's response as spikes, the way a physiologist hears a neuron: a click per spike.

The response sets a firing rate: 0 at the bottom of the range the unit's responses took over the last
``window`` seconds, ``max_rate`` spikes/s at its top (a unit's values have no common scale, so its own
recent range does). Spikes come from an integrate-and-fire clock: the rate is integrated over time and a
spike falls at the exact moment the integral crosses a whole number. The same responses at the same
times always give the same spikes.
"""

from __future__ import annotations

import collections


class SpikeTrain:
    def __init__(self, max_rate: float = 40.0, window: float = 5.0):
        self.max_rate = max_rate
        self.window = window
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        self._phase = 0.0
        self._time: float | None = None
        self._rate = 0.0
        self.count = 0

    def rate_for(self, response: float) -> float:
        """Spikes/s for ``response`` given the recent range (0 while the range is a single value)."""
        values = [v for _, v in self._recent]
        lo, hi = min(values, default=response), max(values, default=response)
        if hi <= lo:
            return 0.0
        return self.max_rate * min(1.0, max(0.0, (response - lo) / (hi - lo)))

    def update(self, now: float, response: float) -> list[float]:
        """The unit responded ``response`` at time ``now`` (seconds, increasing): the spike times since the
        last update, which fired at the rate the last response set."""
        spikes = []
        if self._time is not None and now > self._time:
            t, phase, rate = self._time, self._phase, self._rate
            if rate > 0:
                while phase + rate * (now - t) >= 1.0 - 1e-9:
                    t += (1.0 - phase) / rate
                    phase = 0.0
                    spikes.append(t)
                phase += rate * (now - t)
            self._phase = max(0.0, phase)
        self._time = now
        self._recent.append((now, response))
        while self._recent and self._recent[0][0] < now - self.window:
            self._recent.popleft()
        self._rate = self.rate_for(response)
        self.count += len(spikes)
        return spikes

    def reset(self) -> None:
        self._recent.clear()
        self._phase, self._time, self._rate = 0.0, None, 0.0
