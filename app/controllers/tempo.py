"""The tempo that beat-synced modulators and morphs follow: a BPM field, tap tempo or MIDI clock.

The beat position is continuous: a change of tempo bends its slope from that moment on, it never
jumps. ``now`` is the host's clock in seconds (the window's monotonic time; ``record``'s video time).
"""

from __future__ import annotations

import collections

from app.params import Param, Registry

BPM = "tempo.bpm"
MIN_BPM, MAX_BPM = 20.0, 300.0
TAP_RESET_S = 2.0               # a pause this long between taps starts a new tapping
MIDI_CLOCKS_PER_BEAT = 24
MIDI_CLOCK_WINDOW = 48          # clocks the MIDI tempo is averaged over (two beats)

PARAMS = [
    Param(BPM, "float", 120.0, "Tempo in beats per minute, for modulators and morphs counted in beats; tap "
          "it, type it, or follow a MIDI clock.", "tempo", MIN_BPM, MAX_BPM, label="BPM"),
]


class Tempo:
    def __init__(self, registry: Registry):
        self.registry = registry
        self._anchor_time = 0.0
        self._anchor_beat = 0.0
        self._bpm = float(registry[BPM])
        self._taps: list[float] = []
        self._clocks: collections.deque = collections.deque(maxlen=MIDI_CLOCK_WINDOW + 1)
        self._source = "field"

    @property
    def bpm(self) -> float:
        return float(self.registry[BPM])

    @property
    def source(self) -> str:
        """What set the tempo last: field (typed, OSC, a knob, a preset), tap or MIDI clock."""
        return "field" if self.bpm != self._bpm else self._source

    def beats(self, now: float) -> float:
        """The beat position at ``now`` (beat 0 at time 0 unless re-anchored by a start)."""
        bpm = self.bpm
        if bpm != self._bpm:                   # someone set the tempo: bend here, do not jump
            self._rebase(now)
            self._bpm = bpm
            self._source = "field"
        return self._anchor_beat + (now - self._anchor_time) * self._bpm / 60.0

    def phase(self, now: float) -> float:
        """Where in the current beat ``now`` is, 0…1."""
        return self.beats(now) % 1.0

    def seconds(self, beats: float) -> float:
        return beats * 60.0 / self.bpm

    def tap(self, now: float) -> float | None:
        """A tap: from the second tap on, the tempo is the mean interval of the taps, and the beat
        falls on the tap. Returns the new BPM, or None while there is only one tap."""
        if self._taps and now - self._taps[-1] > TAP_RESET_S:
            self._taps.clear()
        if self._taps and now <= self._taps[-1]:         # two taps in one frame are one
            return None
        self._taps = (self._taps + [now])[-8:]
        if len(self._taps) < 2:
            return None
        interval = (self._taps[-1] - self._taps[0]) / (len(self._taps) - 1)
        bpm = min(MAX_BPM, max(MIN_BPM, 60.0 / interval))
        self._set(now, bpm, "tap")
        self._anchor_beat = round(self._anchor_beat)      # the tap is on a beat
        return bpm

    def midi_clock(self, now: float) -> None:
        """One MIDI timing clock (24 a beat): the tempo follows their mean rate."""
        self._clocks.append(now)
        if len(self._clocks) >= MIDI_CLOCKS_PER_BEAT // 2:
            span = self._clocks[-1] - self._clocks[0]
            if span > 0:
                bpm = 60.0 * (len(self._clocks) - 1) / (span * MIDI_CLOCKS_PER_BEAT)
                if abs(bpm - self.bpm) > 0.05:
                    self._set(now, min(MAX_BPM, max(MIN_BPM, bpm)), "MIDI clock")

    def midi_start(self, now: float) -> None:
        """MIDI start: beat 0 is now."""
        self._clocks.clear()
        self.beats(now)
        self._anchor_time, self._anchor_beat = now, 0.0

    def _set(self, now: float, bpm: float, source: str) -> None:
        self.beats(now)
        self._rebase(now)
        self.registry.set(BPM, round(bpm, 2))
        self._bpm = float(self.registry[BPM])
        self._source = source

    def _rebase(self, now: float) -> None:
        self._anchor_beat = self._anchor_beat + (now - self._anchor_time) * self._bpm / 60.0
        self._anchor_time = now
