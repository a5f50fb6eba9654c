"""numpy references of the shipped mixing rules (shaders/rules/*.glsl), on per-layer arrays.

Each takes lists of (C, H, W) float64 arrays (state, bottom-up, top-down), per-layer lesion flags
and the rule's parameters, and returns the new states. The GLSL must match them.
"""

import numpy as np


def _lesion(up, down, lesion_up, lesion_down):
    up = [np.zeros_like(u) if cut else u for u, cut in zip(up, lesion_up)]
    down = [np.zeros_like(d) if cut else d for d, cut in zip(down, lesion_down)]
    return up, down


def blur5(x: np.ndarray, torus: bool) -> np.ndarray:
    """Mean of each value and its four neighbours, per channel, edges wrapped or clamped."""
    if torus:
        shifted = [np.roll(x, s, axis=a) for a in (1, 2) for s in (1, -1)]
    else:
        p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
        shifted = [p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]]
    return (x + sum(shifted)) / 5.0


def general(state, up, down, lesion_up, lesion_down, p):
    up, down = _lesion(up, down, lesion_up, lesion_down)
    out = []
    for l, (s, u, d) in enumerate(zip(state, up, down)):
        a = p["gain_self"][l] * s + p["gain_up"][l] * u + p["gain_down"][l] * d
        squash = p["squash"]
        nxt = np.clip(a, -1, 1) if squash == "clamp" else (np.tanh(a) if squash == "tanh" else a)
        out.append(nxt + (s - nxt) * p["persistence"][l])
    return out


def ff_blur(state, up, down, lesion_up, lesion_down, p):
    up, down = _lesion(up, down, lesion_up, lesion_down)
    return [np.tanh(p["fb"] * (blur5(u, p["torus"]) + blur5(d, p["torus"])) / 2) * (1 - p["tblur"]) + s * p["tblur"]
            for s, u, d in zip(state, up, down)]


def ff_contrast(state, up, down, lesion_up, lesion_down, p):
    up, down = _lesion(up, down, lesion_up, lesion_down)
    return [(0.5 + 0.5 * np.tanh(blur5(u, p["torus"]) - blur5(d, p["torus"]))) * (1 - p["tblur"]) + s * p["tblur"]
            for s, u, d in zip(state, up, down)]


def ff_sum(state, up, down, lesion_up, lesion_down, p):
    up, down = _lesion(up, down, lesion_up, lesion_down)
    return [np.tanh(d + u - 1) * (1 - p["tblur"]) + s * p["tblur"] for s, u, d in zip(state, up, down)]


RULES = {"general": general, "ff_blur": ff_blur, "ff_contrast": ff_contrast, "ff_sum": ff_sum}
