"""What one MIDI control does: a CC or a note on one channel, mapped to a parameter or an action.

A target is a parameter address (``dream``, ``lesion.up.3``) or an action, written ``action:NAME``
or ``action:NAME=ARGUMENT`` (``action:preset=3``): a parameter and an action may share a name.

- A CC moves a number across its range (or the mapping's ``min``…``max`` within it), picks a choice
  by position, turns a boolean on from 64 up, and fires an action when it crosses 64 upwards.
- A note toggles a boolean, or a number between the ends of its range (``momentary``: on while
  held), steps a choice to the next one, and fires an action.
- ``invert`` turns the control round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mido

from app.action_table import ActionTable
from app.params import Param, ParamError, Registry

ACTION_PREFIX = "action:"
KINDS = ("cc", "note")
MIDI_MAX = 127


def action_target(name: str, argument: str | None = None) -> str:
    """The target that fires action ``name`` (with ``argument``, e.g. the preset to recall)."""
    return ACTION_PREFIX + name + (f"={argument}" if argument is not None else "")


def split_action(target: str) -> tuple[str, str | None] | None:
    """(name, argument) of an action target; None for a parameter address."""
    if not target.startswith(ACTION_PREFIX):
        return None
    name, sep, argument = target[len(ACTION_PREFIX):].partition("=")
    return name, argument if sep else None


def describe_target(target: str) -> str:
    action = split_action(target)
    if action is None:
        return target
    name, argument = action
    return f"action {name}" + (f" {argument}" if argument is not None else "")


def base_param(registry: Registry, address: str) -> Param:
    """The parameter at ``address`` (a per-layer ``name.K`` gives ``name``'s); raises ParamError."""
    registry[address]
    return registry.param(address if address in registry else address.rpartition(".")[0])


def resolve(target: str, registry: Registry, actions: ActionTable) -> Param | None:
    """The parameter ``target`` moves (None for an action); raises ValueError saying why it does not
    fit (an unknown parameter or action, a number without a range)."""
    action = split_action(target)
    if action is not None:
        actions.check(action[0])
        return None
    param = base_param(registry, target)
    if param.kind in ("float", "int") and (param.min is None or param.max is None):
        raise ParamError(f"{param.name} has no range, so a MIDI control cannot move it")
    return param


@dataclass(frozen=True)
class Control:
    """One CC number or one note on one MIDI channel (1…16, as devices print them)."""
    kind: str
    channel: int
    number: int

    @classmethod
    def of(cls, message: mido.Message) -> Control | None:
        if message.type == "control_change":
            return cls("cc", message.channel + 1, message.control)
        if message.type in ("note_on", "note_off"):
            return cls("note", message.channel + 1, message.note)
        return None

    def describe(self) -> str:
        return f"{'CC' if self.kind == 'cc' else 'note'} {self.number} ch {self.channel}"

    def message(self, level: int) -> mido.Message:
        """What sets this control on a device to ``level`` (0…127): a CC, or a note on / off."""
        if self.kind == "cc":
            return mido.Message("control_change", channel=self.channel - 1, control=self.number, value=level)
        if level >= 64:
            return mido.Message("note_on", channel=self.channel - 1, note=self.number, velocity=MIDI_MAX)
        return mido.Message("note_off", channel=self.channel - 1, note=self.number, velocity=0)


@dataclass
class Mapping:
    control: Control
    target: str
    low: float | None = None       # the sub-range, in the parameter's units (None: the end of its range)
    high: float | None = None
    invert: bool = False
    momentary: bool = False        # notes: on while held, instead of a toggle per press

    def describe(self) -> str:
        return f"{self.control.describe()} → {describe_target(self.target)}"

    @property
    def is_action(self) -> bool:
        return split_action(self.target) is not None

    def check_range(self, param: Param) -> None:
        """Raise ParamError when ``min``/``max`` no longer fit ``param``'s range."""
        for bound in (self.low, self.high):
            if bound is not None:
                if param.kind not in ("float", "int"):
                    raise ParamError(f"{param.name} is {param.kind}: a range applies only to numbers")
                param.coerce(bound)
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ParamError(f"min {self.low:g} is above max {self.high:g}")

    def span(self, param: Param) -> tuple[float, float]:
        """The mapping's range as positions 0…1 in the parameter's declared range."""
        low = param.normalized(self.low) if self.low is not None else 0.0
        high = param.normalized(self.high) if self.high is not None else 1.0
        return low, high

    def value_of_cc(self, param: Param, level: int) -> Any:
        """The parameter value for CC value ``level``."""
        x = level / MIDI_MAX
        if self.invert:
            x = 1.0 - x
        if param.kind == "bool":
            return x >= 0.5
        if param.kind == "choice":
            return param.from_normalized(x)
        low, high = self.span(param)
        return _clamped(param, param.from_normalized(low + x * (high - low)))

    def value_of_press(self, param: Param, current: Any) -> Any:
        """The parameter value after a note is pressed, from its ``current`` value."""
        if param.kind == "choice":
            step = -1 if self.invert else 1
            return param.choices[(param.choices.index(current) + step) % len(param.choices)]
        if self.momentary:
            return self._end(param, True)
        if param.kind == "bool":
            return not current
        low, high = self.span(param)
        position = param.normalized(current)
        end = high if abs(position - low) <= abs(position - high) else low
        return _clamped(param, param.from_normalized(end))

    def value_of_release(self, param: Param) -> Any | None:
        """The parameter value when a momentary note is let go (None: a release changes nothing)."""
        if not self.momentary or param.kind == "choice":
            return None
        return self._end(param, False)

    def _end(self, param: Param, on: bool) -> Any:
        on = on != self.invert
        if param.kind == "bool":
            return on
        low, high = self.span(param)
        return _clamped(param, param.from_normalized(high if on else low))

    def level_of(self, param: Param, value: Any) -> int:
        """The CC value (0…127) that shows ``value`` on the device: the inverse of the mapping."""
        if param.kind == "bool":
            x = 1.0 if value else 0.0
        elif param.kind == "choice":
            x = param.normalized(value)
        else:
            low, high = self.span(param)
            position = param.normalized(value)
            x = (position - low) / (high - low) if high != low else float(position >= low)
        x = min(1.0, max(0.0, x))
        return round(MIDI_MAX * (1.0 - x if self.invert else x))

    def to_settings(self) -> dict:
        entry = {"control": self.control.kind, "channel": self.control.channel, "number": self.control.number,
                 "target": self.target, "invert": self.invert, "momentary": self.momentary}
        if self.low is not None:
            entry["min"] = self.low
        if self.high is not None:
            entry["max"] = self.high
        return entry

    @classmethod
    def from_settings(cls, entry: Any) -> Mapping:
        """The mapping a settings entry holds; raises ValueError naming the field that is wrong."""
        if not isinstance(entry, dict):
            raise ValueError(f"expected an object, got {entry!r}")
        kind = entry.get("control")
        if kind not in KINDS:
            raise ValueError(f"control must be one of {', '.join(KINDS)}, got {kind!r}")
        channel, number = _integer(entry, "channel", 1, 16), _integer(entry, "number", 0, MIDI_MAX)
        target = entry.get("target")
        if not isinstance(target, str) or not target.strip():
            raise ValueError(f"target must be a parameter address or action:NAME, got {target!r}")
        bounds = [entry.get(key) for key in ("min", "max")]
        for key, bound in zip(("min", "max"), bounds):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
                raise ValueError(f"{key} must be a number, got {bound!r}")
        flags = [entry.get(key, False) for key in ("invert", "momentary")]
        for key, flag in zip(("invert", "momentary"), flags):
            if not isinstance(flag, bool):
                raise ValueError(f"{key} must be true or false, got {flag!r}")
        return cls(Control(kind, channel, number), target.strip(), *bounds, *flags)


def _integer(entry: dict, key: str, low: int, high: int) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be an integer from {low} to {high}, got {value!r}")
    return value


def _clamped(param: Param, value: Any) -> Any:
    """``value`` inside ``param``'s range (a sum of floats can overshoot its end by a rounding error)."""
    return min(param.max, max(param.min, value))
