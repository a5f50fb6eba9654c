"""A differentiable torch mirror of one step of the dreaming loop (``app.loop.engine.Engine.step`` with the
``general`` mixing rule), so that training can run through the loop the app will run.

One step: x = clamp(mix(source, P, dream), 0, 1); drives from (x, S), tired, spread and moved by the
dream's fatigue, wander and motion (``app.loop.drives``); every feature layer
S_l ← mix(squash(g_self·S_l + g_up·up_l + g_down·down_l + noise·N(0,1)), S_l, persistence);
the new prediction is the one decoded from the *old* layer-1 state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from app.resources import SHADER_DIR
from app.gl.shaders import parse_shader
from app.loop.drives import Fatigue, Wander, fatigue as tire, motion as moved, wander as spread
from app.models.base import LayerStack

RULE_FILE = SHADER_DIR / "rules" / "general.glsl"


@dataclass(frozen=True)
class Rule:
    """Gains of the ``general`` rule, one value per feature layer."""

    gain_self: tuple[float, ...]
    gain_up: tuple[float, ...]
    gain_down: tuple[float, ...]
    persistence: tuple[float, ...]
    noise: tuple[float, ...]
    squash: str  # none, clamp or tanh

    @classmethod
    def default(cls, depth: int) -> "Rule":
        """The defaults declared in the shader's header, so training follows the app's default rule."""
        inputs = {i.name: i for i in parse_shader(RULE_FILE).inputs}
        per_layer = {name: (float(inputs[name].default),) * depth
                     for name in ("gain_self", "gain_up", "gain_down", "persistence", "noise")}
        squash = inputs["squash"]
        return cls(**per_layer, squash=squash.labels[int(squash.default)])

    def to_dict(self) -> dict:
        return {"gain_self": self.gain_self[0], "gain_up": self.gain_up[0], "gain_down": self.gain_down[0],
                "persistence": self.persistence[0], "noise": self.noise[0], "squash": self.squash}


def noise_start(model: LayerStack, batch: int, size: int, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The engine's reset: states uniform in [−0.5, 0.5], prediction uniform in [0, 1]."""
    states = [(torch.rand((batch, *shape), generator=generator) - 0.5).to(device)
              for shape in model.layer_shapes(size)]
    prediction = torch.rand((batch, 3, size, size), generator=generator).to(device)
    return prediction, states


def _squash(a: torch.Tensor, how: str) -> torch.Tensor:
    if how == "clamp":
        return a.clamp(-1.0, 1.0)
    if how == "tanh":
        return torch.tanh(a)
    return a


def step(model: LayerStack, rule: Rule, prediction: torch.Tensor, states: list[torch.Tensor],
         source: torch.Tensor | None = None, dream: float = 1.0, latent_noise: float = 0.0,
         motion: float = 0.0, noise: Callable[[torch.Tensor], torch.Tensor] = torch.randn_like,
         fatigue: float = 0.0, tired: Fatigue | None = None, wander: float = 0.0,
         field: Wander | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One loop step → (new prediction, new states). ``latent_noise`` adds training noise to the
    mixed states (before squashing, like the rule's own noise); ``motion``, ``fatigue`` and ``wander``
    are the registry's, ``tired`` and ``field`` what fatigue and wander carry from step to step;
    ``noise(a)`` draws that noise, N(0, 1) shaped like ``a``."""
    x = prediction if source is None else torch.lerp(source.to(prediction.dtype), prediction, dream)
    drives = model.drives(x.clamp(0.0, 1.0), states)
    if fatigue:
        drives = tire(drives, states, tired, fatigue, dream if source is not None else 1.0)
    if wander:
        drives = spread(drives, field, wander, dream if source is not None else 1.0, None, noise)
    if motion:
        drives = moved(drives, states, motion, dream if source is not None else 1.0, None, noise)
    new_states = []
    for l, (s, up, down) in enumerate(zip(states, drives.up, drives.down)):
        a = rule.gain_up[l] * up + rule.gain_down[l] * down
        if rule.gain_self[l]:
            a = a + rule.gain_self[l] * s
        sigma = (rule.noise[l] ** 2 + latent_noise ** 2) ** 0.5
        if sigma:
            a = a + sigma * noise(a)
        a = _squash(a, rule.squash)
        new_states.append(torch.lerp(a, s, rule.persistence[l]) if rule.persistence[l] else a)
    return drives.prediction, new_states
