"""Modulators: LFOs and envelopes that move numeric parameters around the value the user set.

An LFO cycles at a rate in Hz or in beats of the tempo (beats per cycle: 1/4 is a cycle every
sixteenth note, 4 one every bar of 4/4); an envelope rises and falls once each time it is fired (the
action ``envelope``, from a MIDI pad, OSC or an audio onset). Depth and offset are fractions of the
parameter's range. Everything is a function of ``now`` (the host's clock), the tempo and a seed, so an
offline render moves exactly as often as it is rendered.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from app.action_table import ActionError, ActionTable
from app.controllers.modulation import Modulation, numeric_param
from app.controllers.tempo import Tempo
from app.params import Registry

PARAMS: list = []

SHAPES = ("sine", "triangle", "saw", "square", "sample-and-hold")
BEAT_LENGTHS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0, 16.0)    # what the panel offers, in beats per cycle
MAX_HZ = 50.0
MAX_BEATS = 64.0
MAX_SECONDS = 60.0
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
SOURCE = "modulators"


@dataclass(eq=False)
class LFO:
    address: str
    shape: str = "sine"
    depth: float = 0.2               # the swing each way, as a fraction of the parameter's range
    offset: float = 0.0              # added to the base, as a fraction of the range
    hz: float | None = None          # cycles per second; when None the rate is …
    beats: float = 4.0               # … beats of the tempo per cycle (4: a bar of 4/4)
    phase: float = 0.0               # where in its cycle the LFO is at time 0 (0…1)
    seed: int = 0                    # sample and hold: which random values it draws

    kind = "lfo"

    def cycles(self, now: float, tempo: Tempo) -> float:
        if self.hz is not None:
            return now * self.hz + self.phase
        return tempo.beats(now) / self.beats + self.phase

    def wave(self, cycles: float) -> float:
        """The shape at ``cycles``, −1…1: sine and triangle start at 0 rising, the saw ramps up from −1,
        the square is high for the first half; sample and hold draws a new value each cycle."""
        p = cycles % 1.0
        if self.shape == "sine":
            return math.sin(2 * math.pi * p)
        if self.shape == "triangle":
            return 4 * abs((p - 0.25) % 1.0 - 0.5) - 1
        if self.shape == "saw":
            return 2 * p - 1
        if self.shape == "square":
            return 1.0 if p < 0.5 else -1.0
        cycle = math.floor(cycles)
        return float(np.random.default_rng([self.seed & 0xFFFFFFFF, cycle & 0xFFFFFFFF]).uniform(-1.0, 1.0))

    def offset_at(self, now: float, tempo: Tempo) -> float:
        return self.offset + self.depth * self.wave(self.cycles(now, tempo))

    def describe(self) -> str:
        rate = f"{self.hz:g} Hz" if self.hz is not None else f"{beat_label(self.beats)} beat" + \
            ("" if self.beats == 1 else "s")
        return f"LFO {self.shape} {rate}"

    def to_json(self) -> dict:
        out = {"type": "lfo", "address": self.address, "shape": self.shape, "depth": self.depth,
               "offset": self.offset, "phase": self.phase}
        out.update({"hz": self.hz} if self.hz is not None else {"beats": self.beats})
        if self.shape == "sample-and-hold":
            out["seed"] = self.seed
        return out


@dataclass(eq=False)
class Envelope:
    address: str
    name: str = "envelope"           # what fires it: the action ``envelope`` with this name, or with none
    attack: float = 0.01             # seconds from where it is to the peak
    release: float = 0.5             # seconds from the peak back to nothing
    depth: float = 0.5               # the peak, as a fraction of the range (negative: a dip)
    fired_at: float | None = None
    fired_from: float = 0.0          # its level when last fired (a retrigger rises from there)

    kind = "envelope"

    def fire(self, now: float) -> None:
        self.fired_from, self.fired_at = self.level(now), now

    def level(self, now: float) -> float:
        """0…1: up in a line to 1 over the attack, then down in a line to 0 over the release."""
        if self.fired_at is None:
            return 0.0
        t = now - self.fired_at
        if t < 0:
            return 0.0
        if t < self.attack:
            return self.fired_from + (1.0 - self.fired_from) * t / self.attack
        t -= self.attack
        return max(0.0, 1.0 - t / self.release) if self.release > 0 else 0.0

    def offset_at(self, now: float, tempo: Tempo) -> float:
        return self.depth * self.level(now)

    def describe(self) -> str:
        return f"envelope '{self.name}' {self.attack:g}/{self.release:g} s"

    def to_json(self) -> dict:
        return {"type": "envelope", "address": self.address, "name": self.name, "attack": self.attack,
                "release": self.release, "depth": self.depth}


Modulator = LFO | Envelope


def beat_label(beats: float) -> str:
    """1/4, 1/2, 1, 2, …: how performers say a length in beats."""
    if beats < 1 and (1 / beats).is_integer():
        return f"1/{int(1 / beats)}"
    return f"{beats:g}"


class ModulatorBank:
    def __init__(self, registry: Registry, tempo: Tempo):
        self.registry, self.tempo = registry, tempo
        self.modulators: list[Modulator] = []
        self._modulation = Modulation.of(registry)
        self._fired: list[str | None] = []

    def define_actions(self, actions: ActionTable) -> None:
        actions.define("envelope", "fire the envelopes of that name (every envelope without one)",
                       lambda name: self.fire(name or None), takes="envelope name (optional)")

    def add(self, modulator: Modulator) -> Modulator:
        """Adds ``modulator`` after checking its settings (ParamError or ValueError: one line)."""
        check(self.registry, modulator)
        self.modulators.append(modulator)
        return modulator

    def add_lfo(self, address: str, **settings: Any) -> LFO:
        return self.add(LFO(address, **settings))

    def add_envelope(self, address: str, **settings: Any) -> Envelope:
        return self.add(Envelope(address, **settings))

    def remove(self, modulator: Modulator) -> None:
        self.modulators.remove(modulator)

    def remove_address(self, address: str) -> int:
        """Removes every modulator of ``address``; how many there were."""
        before = len(self.modulators)
        self.modulators = [m for m in self.modulators if m.address != address]
        return before - len(self.modulators)

    def on(self, address: str) -> list[Modulator]:
        return [m for m in self.modulators if m.address == address]

    def envelope_names(self) -> list[str]:
        return sorted({m.name for m in self.modulators if isinstance(m, Envelope)})

    def fire(self, name: str | None = None) -> None:
        """Fire the envelopes named ``name`` (None: every one) at the next tick."""
        if name is not None and name not in self.envelope_names():
            known = ", ".join(self.envelope_names()) or "none yet (add one to a control)"
            raise ActionError(f"no envelope named {name!r}; envelopes: {known}")
        self._fired.append(name)

    def tick(self, now: float) -> None:
        for name in self._fired:
            for m in self.modulators:
                if isinstance(m, Envelope) and (name is None or m.name == name):
                    m.fire(now)
        self._fired.clear()
        offsets: dict[str, float] = {}
        for m in self.modulators:
            offsets[m.address] = offsets.get(m.address, 0.0) + m.offset_at(now, self.tempo)
        self._modulation.apply(SOURCE, offsets)

    def bases(self) -> dict[str, Any]:
        """{address: the user's value} of every modulated parameter (the audio mappings' too): what a
        preset saves, rather than where a modulation has the value now."""
        return self._modulation.bases()

    def to_json(self) -> list[dict]:
        return [m.to_json() for m in self.modulators]

    def load_json(self, entries: Any) -> list[str]:
        """Replaces the modulators with ``entries`` (as ``to_json`` writes them); returns one line for
        each entry that could not be loaded (the others are)."""
        if not isinstance(entries, list):
            return [f"modulators must be a list, got {type(entries).__name__}"]
        loaded, problems = [], []
        for i, entry in enumerate(entries, 1):
            try:
                loaded.append(from_json(self.registry, entry))
            except ValueError as e:            # ParamError included
                problems.append(f"modulator {i}: {e}")
        self.modulators = loaded
        return problems


def from_json(registry: Registry, entry: Any) -> Modulator:
    if not isinstance(entry, dict):
        raise ValueError(f"expected an object, got {entry!r}")
    kinds = {"lfo": LFO, "envelope": Envelope}
    cls = kinds.get(entry.get("type"))
    if cls is None:
        raise ValueError(f"type must be lfo or envelope, got {entry.get('type')!r}")
    names = {f.name for f in fields(cls) if f.name not in ("fired_at", "fired_from")}
    unknown = sorted(set(entry) - names - {"type"})
    if unknown:
        raise ValueError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"{cls.kind} takes {', '.join(sorted(names))}")
    if "address" not in entry:
        raise ValueError("has no address")
    settings = {k: v for k, v in entry.items() if k != "type"}
    if cls is LFO and "hz" in settings and "beats" in settings:
        raise ValueError("give hz or beats, not both")
    return check(registry, cls(**settings))


def check(registry: Registry, m: Modulator) -> Modulator:
    """``m`` if its address is a modulatable parameter and its settings are in range, else a
    ValueError (ParamError for the address) saying which."""
    if not isinstance(m.address, str):
        raise ValueError(f"address must be a parameter name, got {m.address!r}")
    numeric_param(registry, m.address)
    _number(m, "depth", -1.0, 1.0)
    if isinstance(m, LFO):
        if m.shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {m.shape!r}")
        _number(m, "offset", -1.0, 1.0)
        _number(m, "phase", 0.0, 1.0)
        if m.hz is not None:
            _number(m, "hz", 0.0, MAX_HZ, above_low=True)
        _number(m, "beats", 0.0, MAX_BEATS, above_low=True)
        if not isinstance(m.seed, int) or isinstance(m.seed, bool):
            raise ValueError(f"seed must be a whole number, got {m.seed!r}")
    else:
        if not isinstance(m.name, str) or not NAME.match(m.name):
            raise ValueError(f"name must be 1 to 32 letters, digits, '.', '_' or '-', got {m.name!r}")
        _number(m, "attack", 0.0, MAX_SECONDS)
        _number(m, "release", 0.0, MAX_SECONDS)
    return m


def _number(m: Modulator, field: str, low: float, high: float, above_low: bool = False) -> None:
    value = getattr(m, field)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > low if above_low else value >= low) and value <= high
    if not ok:
        bound = f"above {low:g}" if above_low else f"from {low:g}"
        raise ValueError(f"{field} must be a number {bound} to {high:g}, got {value!r}")
    setattr(m, field, float(value))
