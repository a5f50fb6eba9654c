"""The viewing modes of the PVM paper (seed 000) as sets of parameter values, for any model.

Choosing a mode first returns every parameter a mode touches to its normal value (the model kind's
``mode_defaults`` where it has one, else the parameter's default), then applies the mode's own
values; the parameters stay free to change afterwards. An address ``role:NAME`` is the current
mixing rule's input with that role (``app.gl.shaders``); a rule without it skips the entry.
"""

from __future__ import annotations

from typing import Callable

from app.params import Registry

BOTTOM_UP, TOP_DOWN = "role:bottom-up gain", "role:top-down gain"

NORMAL = {
    "dream": 0.0, "input_noise": 0.0, "blink": False, "occluder.mode": "off", "occluder.fill": "gray",
    "occluder.size": 0.35, BOTTOM_UP: None, TOP_DOWN: None,
}

MODES: dict[str, dict] = {
    "normal": {},
    "full dream": {"dream": 1.0},
    "deep dream": {"dream": 1.0, BOTTOM_UP: 0.0, TOP_DOWN: 1.0},
    "blind spot": {"occluder.mode": "blind"},
    "inverse spot": {"occluder.mode": "inverse"},
    "noise spot": {"occluder.mode": "blind", "occluder.fill": "noise"},
    "inverse noise spot": {"occluder.mode": "inverse", "occluder.fill": "noise"},
    "dream spot": {"occluder.mode": "blind", "occluder.fill": "prediction"},
    "partial dream": {"occluder.mode": "inverse", "occluder.fill": "prediction"},
    "gray field": {"occluder.mode": "inverse", "occluder.size": 0.0},
    "noise field": {"occluder.mode": "inverse", "occluder.fill": "noise", "occluder.size": 0.0},
    "blinks": {"blink": True},
    "noisy signal": {"input_noise": 0.125},
}


def _resolver(registry: Registry, address_of_role: Callable[[str], str | None]):
    def resolve(address: str) -> str | None:
        if address.startswith("role:"):
            return address_of_role(address[len("role:"):])
        return address if address in registry else None
    return resolve


def apply_mode(registry: Registry, mode: str, model_defaults: dict,
               address_of_role: Callable[[str], str | None]) -> None:
    """Write ``mode``'s values into the registry; ``address_of_role`` resolves ``role:`` addresses."""
    resolve = _resolver(registry, address_of_role)
    normal = {**NORMAL, **model_defaults}
    for key, value in normal.items():
        address = resolve(key)
        if address is not None:
            registry.set(address, registry.param(address).default if value is None else value)
    for key, value in MODES[mode].items():
        address = resolve(key)
        if address is not None:
            registry.set(address, value)


def apply_model_defaults(registry: Registry, mode: str, old_defaults: dict, new_defaults: dict,
                         address_of_role: Callable[[str], str | None]) -> None:
    """Another model runs: rewrite only what depends on the model (the entries of either model's
    defaults), as the current mode wants them; the dream, occluders and the rest stay as they are."""
    resolve = _resolver(registry, address_of_role)
    for key in {**old_defaults, **new_defaults}:
        address = resolve(key)
        if address is None:
            continue
        value = MODES[mode].get(key, new_defaults.get(key, NORMAL.get(key)))
        registry.set(address, registry.param(address).default if value is None else value)
