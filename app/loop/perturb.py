"""Disturbing a running dream: a kick of noise, or painting the source frame into it, inside a disc."""

from __future__ import annotations

import torch

from app.loop.engine import Engine


def _disc(h: int, w: int, center: tuple[float, float], radius: float) -> torch.Tensor:
    ys = (torch.arange(h) + 0.5) / h - center[1]
    xs = (torch.arange(w) + 0.5) / w - center[0]
    return ((ys[:, None] ** 2 + xs[None, :] ** 2) <= radius ** 2).float()


def perturb(engine: Engine, center: tuple[float, float] = (0.5, 0.5), radius: float = 2.0,
            strength: float = 0.5, kind: str = "noise") -> bool:
    """Disturb the dream inside a disc (centre and radius as fractions of the frame, y down; a large
    radius covers everything): ``noise`` adds Gaussian noise of std ``strength`` to every layer and
    the prediction; ``source`` blends the source frame and its encoding in by ``strength`` (for a
    model that encodes). False when nothing could be done."""
    generator, device, size = engine.generator, engine.device, engine.size
    with torch.inference_mode():
        prediction = engine.last_prediction.clone()
        mask = _disc(size, size, center, radius)[..., None]
        states = engine.states
        if kind == "source":
            if engine.source_frame is None or not engine.capabilities.encodes:
                return False
            image = torch.from_numpy(engine.source_frame).float() / 255.0
            target = engine.model.encode(image.permute(2, 0, 1)[None].to(device, engine.dtype)
                                         .contiguous(memory_format=torch.channels_last))
            prediction += strength * mask * (image - prediction)
            states = [s + strength * _disc(*s.shape[-2:], center, radius).to(device) * (e.float() - s)
                      for s, e in zip(states, target)]
        else:
            prediction = (prediction + strength * mask * torch.randn(prediction.shape, generator=generator)).clamp(0, 1)
            states = [s + strength * _disc(*s.shape[-2:], center, radius).to(device)
                      * torch.randn(s.shape, generator=generator).to(device) for s in states]
    engine.load_states(states, prediction)
    return True
