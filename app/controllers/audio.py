"""Audio reactivity: the sound's band levels, loudness and onsets move parameters and fire actions.

A mapping moves a numeric parameter by ``depth`` (a fraction of its range) times a feature (0…1),
like a modulator: the base is where the user left it. ``smoothing`` is how many seconds the mapped
value takes to fall back after the feature drops (it rises at once), so an onset becomes a pulse
that decays. A trigger fires an action (kick, reset, envelope, …) on every onset.

The sound comes live (``open_device``: PortAudio, ``open_file``: a file played in real time) and is
analysed in ``tick``, or offline: ``feed`` analyses one video frame's samples at once, and the
triggers it fires run before that frame's step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.action_table import ActionError, ActionTable
from app.controllers.audio_analysis import FEATURES, LEVELS, AudioAnalysis
from app.controllers.audio_inputs import DeviceInput, FilePlayback, input_devices
from app.controllers.modulation import Modulation, numeric_param
from app.params import Param, Registry

SENSITIVITY = "audio.sensitivity"
PARAMS = [
    Param(SENSITIVITY, "float", 0.5, "How readily a sound counts as an onset (a beat, a hit): higher finds "
          "softer ones.", "audio", 0.0, 1.0, label="onset sensitivity"),
]
SOURCE = "audio"
MAX_SMOOTHING_S = 10.0


@dataclass(eq=False)
class AudioMapping:
    feature: str                 # low, mid, high, loudness or onset
    address: str
    depth: float = 0.25          # fraction of the range at full feature (negative: down)
    smoothing: float = 0.1       # seconds to fall back
    value: float = 0.0           # the feature after smoothing

    def to_json(self) -> dict:
        return {"feature": self.feature, "address": self.address, "depth": self.depth, "smoothing": self.smoothing}


@dataclass(eq=False)
class AudioTrigger:
    action: str                  # fired on every onset
    argument: str | None = None

    def to_json(self) -> dict:
        return {"feature": "onset", "action": self.action, **({"argument": self.argument} if self.argument else {})}


class AudioReactor:
    def __init__(self, registry: Registry, actions: ActionTable):
        self.registry, self.actions = registry, actions
        self.mappings: list[AudioMapping] = []
        self.triggers: list[AudioTrigger] = []
        self.input: DeviceInput | FilePlayback | None = None
        self.analysis: AudioAnalysis | None = None
        self.onset = False           # whether the last tick saw an onset
        self._modulation = Modulation.of(registry)
        self._onsets = 0
        self._last_tick: float | None = None

    # inputs
    @property
    def message(self) -> str:
        """What the input is doing, one line for the panel ("" without one)."""
        return self.input.message if self.input is not None else ""

    @staticmethod
    def devices() -> list[str]:
        return input_devices()

    def open_device(self, name: str | None = None) -> str:
        """Listen to the input device whose name contains ``name`` (None: the default); UserError (one
        line, naming the devices there are) where there is none."""
        self._switch(DeviceInput(name))
        return self.message

    def open_file(self, path: str | Path) -> str:
        """Play ``path`` in real time, looped; UserError (one line) where it cannot be read."""
        self._switch(FilePlayback(path))
        return self.message

    def close_input(self) -> None:
        if self.input is not None:
            self.input.close()
        self.input, self.analysis = None, None

    def _switch(self, source: DeviceInput | FilePlayback) -> None:
        self.close_input()
        self.input, self.analysis = source, AudioAnalysis(source.rate)

    def feed(self, samples: np.ndarray, rate: int) -> None:
        """Analyse ``samples`` (mono) now: the offline path, one video frame's worth at a time. Onsets
        among them fire the triggers at once, so their actions run before the next step."""
        if self.analysis is None or self.analysis.rate != rate:
            self.analysis = AudioAnalysis(rate)
        self._analyse(samples)

    def _analyse(self, samples: np.ndarray) -> None:
        self.analysis.sensitivity = float(self.registry[SENSITIVITY])
        self.analysis.feed(samples)
        found = self.analysis.take_onsets()
        if found and not self._onsets:
            for trigger in self.triggers:
                self.actions.request(trigger.action, trigger.argument)
        self._onsets += found

    # mappings and triggers
    def map(self, feature: str, address: str, depth: float = 0.25, smoothing: float = 0.1) -> AudioMapping:
        """Map ``feature`` to ``address``; ParamError or ValueError (one line) for a bad one."""
        return self._add_mapping(AudioMapping(feature, address, depth, smoothing))

    def _add_mapping(self, mapping: AudioMapping) -> AudioMapping:
        if mapping.feature not in FEATURES:
            raise ValueError(f"audio feature must be one of {', '.join(FEATURES)}, got {mapping.feature!r}")
        if not isinstance(mapping.address, str):
            raise ValueError(f"address must be a parameter name, got {mapping.address!r}")
        numeric_param(self.registry, mapping.address)
        mapping.depth = _number("depth", mapping.depth, -1.0, 1.0)
        mapping.smoothing = _number("smoothing", mapping.smoothing, 0.0, MAX_SMOOTHING_S)
        self.mappings.append(mapping)
        return mapping

    def unmap(self, mapping: AudioMapping) -> None:
        self.mappings.remove(mapping)

    def unmap_address(self, address: str) -> int:
        before = len(self.mappings)
        self.mappings = [m for m in self.mappings if m.address != address]
        return before - len(self.mappings)

    def on(self, address: str) -> list[AudioMapping]:
        return [m for m in self.mappings if m.address == address]

    def trigger(self, action: str, argument: str | None = None) -> AudioTrigger:
        """Fire ``action`` on every onset; ActionError (one line) for an unknown action."""
        if not isinstance(action, str):
            raise ActionError(f"action must be a name, got {action!r}")
        self.actions.check(action)
        if argument is not None and not isinstance(argument, str):
            raise ActionError(f"argument of {action} must be text, got {argument!r}")
        self.triggers.append(AudioTrigger(action, argument))
        return self.triggers[-1]

    def remove_trigger(self, trigger: AudioTrigger) -> None:
        self.triggers.remove(trigger)

    # each step
    def tick(self, now: float) -> None:
        if self.input is not None:
            self._analyse(self.input.take(now))
        dt = 0.0 if self._last_tick is None else max(0.0, now - self._last_tick)
        self._last_tick = now
        self.onset, self._onsets = self._onsets > 0, 0
        features = self.features()
        offsets: dict[str, float] = {}
        for m in self.mappings:
            target = features[m.feature]
            if target >= m.value or m.smoothing <= 0:
                m.value = target
            else:
                m.value = target + (m.value - target) * math.exp(-dt / m.smoothing)
            offsets[m.address] = offsets.get(m.address, 0.0) + m.depth * m.value
        self._modulation.apply(SOURCE, offsets)

    def features(self) -> dict[str, float]:
        """{feature: 0…1} now (the onset: 1 in a tick that heard one)."""
        levels = self.analysis.levels if self.analysis is not None else dict.fromkeys(LEVELS, 0.0)
        return {**levels, "onset": 1.0 if self.onset else 0.0}

    def readouts(self) -> dict[str, float]:
        """The features as ``audio.<feature>`` (sent out over OSC), while there is sound."""
        if self.analysis is None:
            return {}
        return {f"audio.{name}": value for name, value in self.features().items()}

    # presets
    def bases(self) -> dict[str, Any]:
        """{address: the user's value} of every modulated parameter (the modulators' too)."""
        return self._modulation.bases()

    def to_json(self) -> list[dict]:
        return [m.to_json() for m in self.mappings] + [t.to_json() for t in self.triggers]

    def load_json(self, entries: Any) -> list[str]:
        """Replaces the mappings and triggers with ``entries`` (as ``to_json`` writes them); one line for
        each that could not be loaded (the others are)."""
        if not isinstance(entries, list):
            return [f"audio mappings must be a list, got {type(entries).__name__}"]
        self.mappings, self.triggers = [], []
        problems = []
        for i, entry in enumerate(entries, 1):
            try:
                self._load(entry)
            except ValueError as e:         # ParamError and ActionError included
                problems.append(f"audio mapping {i}: {e}")
        return problems

    def _load(self, entry: Any) -> None:
        if not isinstance(entry, dict):
            raise ValueError(f"expected an object, got {entry!r}")
        if "action" in entry:
            unknown = sorted(set(entry) - {"feature", "action", "argument"})
            if unknown or entry.get("feature", "onset") != "onset":
                raise ValueError("a trigger has feature onset, action and argument" +
                                 (f"; unknown: {', '.join(unknown)}" if unknown else ""))
            self.trigger(entry["action"], entry.get("argument"))
            return
        unknown = sorted(set(entry) - {"feature", "address", "depth", "smoothing"})
        if unknown:
            raise ValueError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; a mapping "
                             f"has feature, address, depth and smoothing")
        if "feature" not in entry or "address" not in entry:
            raise ValueError("a mapping needs a feature and an address (a trigger: an action)")
        self._add_mapping(AudioMapping(entry["feature"], entry["address"], entry.get("depth", 0.25),
                                       entry.get("smoothing", 0.1)))

    def close(self) -> None:
        self.close_input()


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)
