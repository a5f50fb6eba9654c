"""The actions every loop offers its controllers: dream on and off, pause, kick and reset to noise,
the next mixing rule, and the model's lesions.

The program running the loop adds its own (record, screenshot, presets, …) to the same table."""

from __future__ import annotations

from typing import Callable

from app.action_table import ActionTable
from app.loop.engine import Engine
from app.loop.perturb import perturb
from app.params import Registry


class DreamToggle:
    """Dream on and off, remembering the amount it was at."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.last = 1.0

    def toggle(self) -> None:
        self.set(self.registry["dream"] <= 0)

    def set(self, on: bool) -> None:
        current = self.registry["dream"]
        if not on and current > 0:
            self.last = current
            self.registry.set("dream", 0.0)
        elif on and current <= 0:
            self.registry.set("dream", self.last or 1.0)


def define_loop_actions(actions: ActionTable, engine: Callable[[], Engine], registry: Registry,
                        dream: DreamToggle) -> None:
    """``engine`` returns the engine running now (a switch of model makes a new one)."""
    actions.define("dream", "dream on / off (remembers the amount)", lambda _: dream.toggle())
    actions.define("dream.on", "dream at the last amount", lambda _: dream.set(True))
    actions.define("dream.off", "follow the source", lambda _: dream.set(False))
    actions.define("pause", "pause / play", lambda _: registry.set("paused", not registry["paused"]))
    actions.define("kick", "noise of the explore strength on every layer",
                   lambda _: perturb(engine(), strength=registry["explore.strength"]))
    actions.define("reset", "every layer back to noise", lambda _: engine().reset())
    actions.define("rule", "the next (or previous, or named) mixing rule", lambda which: next_rule(registry, which),
                   takes="next|prev|NAME")
    actions.define("lesion", "cut / restore one of the model's pathways (every layer)",
                   lambda name: toggle_lesion(engine(), registry, name), takes="top-down|bottom-up|feedback|lateral")


def next_rule(registry: Registry, which: str | None) -> None:
    choices = registry.param("rule").choices
    if which not in (None, "", "next", "prev"):
        registry.set("rule", which)
        return
    step = -1 if which == "prev" else 1
    registry.set("rule", choices[(choices.index(registry["rule"]) + step) % len(choices)])


def toggle_lesion(engine: Engine, registry: Registry, name: str | None) -> bool:
    """Cut the pathway ``name`` of the running model, or restore it where it is cut; returns whether
    it is cut now."""
    lesions = engine.loaded.kind.lesions
    if name not in lesions:
        raise ValueError(f"{engine.loaded.name} has no lesion {name!r}; it has {', '.join(lesions)}")
    address, cut = lesions[name]
    values = registry.layers(address)[:engine.n_layers] if registry.param(address).per_layer else [registry[address]]
    now_cut = not all(v == cut for v in values)
    registry.set(address, cut if now_cut else not cut)        # a per-layer address: every layer
    return now_cut
