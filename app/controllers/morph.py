"""The look crossfades to a recalled preset over ``morph.time`` seconds or beats.

Numbers interpolate (integers rounded); choices and booleans switch at the midpoint, and so do the
model, the source and whatever else the recall switches. ``tick(now)`` writes the registry once per
step (``now``: the host's clock). A recall during a morph starts from where the morph is. A control
that another hand writes during a morph (the panel, MIDI, OSC, an action) leaves the morph and stays
where that hand put it; what modulators and audio mappings write (``unattended``) does not count. A
morph time of 0 goes to the look at once.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

from app.params import Param, ParamError, Registry

TIME, UNIT = "morph.time", "morph.unit"
UNITS = ("seconds", "beats")

PARAMS = [
    Param(TIME, "float", 0.0, "How long a recalled preset takes to fade in (0: at once), counted in morph.unit; "
          "numbers glide, choices and on/off switch halfway.", "morph", 0.0, 64.0, label="morph time"),
    Param(UNIT, "choice", "seconds", "What the morph time counts: seconds, or beats of the tempo (tempo.bpm).",
          "morph", choices=UNITS, label="morph unit"),
]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _between(start, end, position: float):
    value = start + (end - start) * position
    return round(value) if isinstance(end, int) else value


class Morph:
    def __init__(self, registry: Registry, tempo, bases: Callable[[], dict] = dict,
                 notify: Callable[[str], None] = print):
        """``bases`` returns the base value of every modulated address (where a morph starts from and
        what it moves); ``notify`` takes the line about a value that can no longer be written."""
        self.registry, self.tempo, self._bases, self._notify = registry, tempo, bases, notify
        self._target: dict[str, Any] = {}     # address → value, in the order to write them
        self._start: dict[str, Any] = {}      # the numbers that glide → their value at the start
        self._switch: Callable[[], None] | None = None
        self._switched = False
        self._length, self._unit = 1.0, UNITS[0]
        self._origin: float | None = None     # the clock (seconds or beats) at the first tick
        self._writing = False                 # the morph itself writes (and what its writes set off)
        self._unattended = 0                  # modulators and audio write: no hand's move
        self.progress = 0.0
        self._stop_listening = registry.listen(self._heard)

    @property
    def active(self) -> bool:
        return bool(self._target)

    def start(self, values: dict[str, Any], switch: Callable[[], None] | None = None) -> None:
        """Go to ``values`` (checked, in the order to write them) over the morph time, ``switch``
        called at the midpoint before the choices are written; all at once when the time is 0."""
        length, unit = float(self.registry[TIME]), self.registry[UNIT]
        self.stop()
        if length <= 0:
            self._target = dict(values)
            with self._own_writes():
                if switch is not None:
                    switch()
                self._write(values)
            self.stop()
            return
        current = self._now(values)
        self._start = {a: current[a] for a, v in values.items() if _number(v) and current[a] != v}
        self._target = dict(values)
        self._switch, self._switched = switch, False
        self._length, self._unit, self._origin = length, unit, None
        self.progress = 0.0

    def stop(self) -> None:
        """Stop where it is."""
        self._target, self._start, self._switch = {}, {}, None

    def tick(self, now: float) -> None:
        if not self._target:
            return
        clock = self.tempo.beats(now) if self._unit == "beats" else now
        if self._origin is None:
            self._origin = clock
        self.progress = position = min(1.0, max(0.0, (clock - self._origin) / self._length))
        with self._own_writes():
            if position >= 0.5 and not self._switched:
                self._switched = True
                if self._switch is not None:
                    self._switch()
                self._write({a: v for a, v in self._target.items() if a not in self._start})
            self._write({a: _between(s, self._target[a], position) for a, s in self._start.items()
                         if a in self._target})
        if position >= 1.0:
            self.stop()

    @contextlib.contextmanager
    def unattended(self):
        """What is written in here (modulators, audio mappings) is no hand's move: the morph goes on."""
        self._unattended += 1
        try:
            yield
        finally:
            self._unattended -= 1

    def close(self) -> None:
        self.stop()
        self._stop_listening()

    @contextlib.contextmanager
    def _own_writes(self):
        self._writing = True
        try:
            yield
        finally:
            self._writing = False

    def _heard(self, address: str, value: Any) -> None:
        """Someone else wrote ``address`` (a bare per-layer name: every layer): it leaves the morph."""
        if self._writing or self._unattended or not self._target:
            return
        every_layer = address in self.registry and self.registry.param(address).per_layer
        for moved in [a for a in self._target if a == address or every_layer and a.rpartition(".")[0] == address]:
            self._target.pop(moved)
            self._start.pop(moved, None)

    def _now(self, addresses) -> dict[str, Any]:
        bases = self._bases()
        return {a: bases[a] if a in bases else self.registry[a] for a in addresses}

    def _write(self, values: dict[str, Any]) -> None:
        for address, value in values.items():
            if address not in self._target or self._now((address,))[address] == value:
                continue
            try:
                self.registry.set(address, value)
            except ParamError as e:          # it changed since the recall (the rules reloaded)
                self._notify(f"morph: {e}")
                self._target.pop(address)
