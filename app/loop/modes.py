"""The viewing modes of the PVM paper (seed 000) as sets of parameter values, for any model.

Choosing a mode first returns every parameter a mode touches to its normal value, then applies
the mode's own values; the parameters stay free to change afterwards.
"""

from __future__ import annotations

from app.params import Registry

NORMAL = {
    "dream": 0.0, "input_noise": 0.0, "blink": False, "occluder.mode": "off", "occluder.fill": "gray",
    "occluder.size": 0.35, "general.gain_up": None, "general.gain_down": None,
}

MODES: dict[str, dict] = {
    "normal": {},
    "full dream": {"dream": 1.0},
    "deep dream": {"dream": 1.0, "general.gain_up": 0.0, "general.gain_down": 1.0},
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


def apply_mode(registry: Registry, mode: str, model_defaults: dict) -> None:
    """``model_defaults`` holds the normal values that depend on the model (the mixing gains)."""
    for address, value in {**NORMAL, **model_defaults}.items():
        if address not in registry:          # a rule that is not loaded
            continue
        if value is None:
            value = registry.param(address).default
        registry.set(address, value)
    for address, value in MODES[mode].items():
        if address in registry:
            registry.set(address, value)
