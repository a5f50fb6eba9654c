"""A third model kind, for tests: an autoencoder with fixed random weights (feature-feedback found
random weights dream livelier than learned ones) and one live parameter of its own."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from app.models.base import Capabilities, Drives, LayerStack, StepContext


@dataclass
class RandomAEConfig:
    widths: tuple[int, ...] = (4, 8)
    seed: int = 0

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)

    def to_dict(self) -> dict:
        return {"widths": list(self.widths), "seed": self.seed}


class RandomAE(LayerStack):
    kind = "random-ae"

    def __init__(self, config: RandomAEConfig):
        super().__init__()
        self.config = config
        self.channels = config.widths
        below = (3, *self.channels[:-1])
        self.enc = nn.ModuleList(nn.Conv2d(b, c, 4, stride=2, padding=1) for b, c in zip(below, self.channels))
        self.dec = nn.ModuleList(nn.ConvTranspose2d(c, b, 4, stride=2, padding=1) for b, c in zip(below, self.channels))
        generator = torch.Generator().manual_seed(config.seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(size_multiple=self.size_multiple, code_operations=False)

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        states, h = [], image
        for enc in self.enc:
            h = torch.tanh(enc(h))
            states.append(h)
        return states

    def drives(self, image: torch.Tensor, states: list[torch.Tensor], context: StepContext | None = None) -> Drives:
        scale = context.registry["random_ae.code_scale"] if context is not None else 1.0
        below = [image, *states[:-1]]
        up = [torch.tanh(enc(b)) for enc, b in zip(self.enc, below)]
        up[-1] = up[-1] * scale
        down = [torch.tanh(dec(s)) for dec, s in zip(self.dec[1:], states[1:])] + [states[-1]]
        return Drives(up=up, down=down, prediction=torch.sigmoid(self.dec[0](states[0])))

    def status(self) -> str:
        return "fixed random weights"
