"""Modulated parameters: each holds the user's value (its base) under the offsets that modulators and
audio mappings add to it.

An offset is a fraction of the parameter's range; the registry gets the base plus the sum of the
offsets, clamped to the range. The base follows the user: when the registry holds something other
than what was written here last, someone moved the control (the panel, MIDI, OSC, a morph, a preset),
and that value is the new base. One Modulation serves every source of a registry (``of``), so that an
LFO and an audio mapping on the same parameter add up instead of each taking the other's writes for
the user's.
"""

from __future__ import annotations

import weakref
from typing import Any

from app.params import Param, ParamError, Registry

_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def numeric_param(registry: Registry, address: str) -> Param:
    """The parameter at ``address`` if a modulation can move it (a number with a range), else ParamError."""
    registry[address]                     # an unknown address or layer raises here, with a suggestion
    param = registry.param(address if address in registry else address.rpartition(".")[0])
    if param.kind not in ("float", "int"):
        raise ParamError(f"{address} is {'on/off' if param.kind == 'bool' else 'a choice'}: only numbers can "
                         f"be modulated")
    if param.min is None or param.max is None or param.max <= param.min:
        raise ParamError(f"{address} has no range to modulate across")
    return param


class Modulation:
    def __init__(self, registry: Registry):
        self.registry = registry
        self._bases: dict[str, Any] = {}
        self._written: dict[str, Any] = {}
        self._offsets: dict[str, dict[str, float]] = {}      # address → source → fraction of the range

    @classmethod
    def of(cls, registry: Registry) -> Modulation:
        """The one Modulation of ``registry``."""
        shared = _SHARED.get(registry)
        if shared is None:
            shared = _SHARED[registry] = cls(registry)
        return shared

    def apply(self, source: str, offsets: dict[str, float]) -> None:
        """``source``'s offsets now; an address it no longer names loses its offset (and goes back to
        its base when nothing else modulates it)."""
        for address in [a for a, by in self._offsets.items() if source in by and a not in offsets]:
            del self._offsets[address][source]
            self._write(address)
        for address, offset in offsets.items():
            self._offsets.setdefault(address, {})[source] = offset
            self._write(address)

    def bases(self) -> dict[str, Any]:
        """{address: the user's value} of every parameter modulated now."""
        return dict(self._bases)

    def base(self, address: str, default: Any = None) -> Any:
        return self._bases.get(address, default)

    def _write(self, address: str) -> None:
        try:
            param = numeric_param(self.registry, address)
            current = self.registry[address]
        except ParamError:                 # the parameter went away (another rule): forget it
            for table in (self._offsets, self._bases, self._written):
                table.pop(address, None)
            return
        if address not in self._written or current != self._written[address]:
            self._bases[address] = current
        base = self._bases[address]
        offsets = self._offsets.get(address)
        if not offsets:
            self._offsets.pop(address, None)
            del self._bases[address]
            self._written.pop(address, None)
            if current != base:
                self.registry.set(address, base)
            return
        value = min(param.max, max(param.min, base + sum(offsets.values()) * (param.max - param.min)))
        if param.kind == "int":
            value = round(value)
        self._written[address] = self.registry.set(address, value) if value != current else current
