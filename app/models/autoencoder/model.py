"""The hourglass convolutional autoencoder as a layer stack.

Layer l (1…L) halves the resolution of layer l−1. ``enc[l]`` maps layer l−1 to layer l and
``dec[l]`` maps layer l back to layer l−1, so every layer has a bottom-up drive (enc of the layer
below) and a top-down drive (dec of the layer above). The top layer's top-down drive is its own
state, as in feature-feedback. Codes are squashed by ``code_activation`` (tanh keeps the states
the mixer sees in [−1, 1]); the image decoder ends in a sigmoid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from app.models.base import Drives, LayerStack, StepContext

HIDDEN_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU}
CODE_ACTIVATIONS = {"tanh": nn.Tanh, "identity": nn.Identity}


@dataclass
class AutoencoderConfig:
    widths: tuple[int, ...] = (32, 64, 128, 256)
    activation: str = "gelu"
    code_activation: str = "tanh"

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.widths) < 1 or any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be positive channel counts, got {self.widths}")
        if self.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(HIDDEN_ACTIVATIONS)}, got {self.activation!r}")
        if self.code_activation not in CODE_ACTIVATIONS:
            raise ValueError(f"code_activation must be one of {sorted(CODE_ACTIVATIONS)}, "
                             f"got {self.code_activation!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d


def _encoder(c_in: int, c_out: int, cfg: AutoencoderConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1),
        HIDDEN_ACTIVATIONS[cfg.activation](),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        CODE_ACTIVATIONS[cfg.code_activation](),
    )


def _decoder(c_in: int, c_out: int, cfg: AutoencoderConfig, to_image: bool) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, padding=1),
        HIDDEN_ACTIVATIONS[cfg.activation](),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.Sigmoid() if to_image else CODE_ACTIVATIONS[cfg.code_activation](),
    )


class ConvAutoencoder(LayerStack):
    kind = "autoencoder"

    def __init__(self, config: AutoencoderConfig | None = None):
        super().__init__()
        self.config = config or AutoencoderConfig()
        self.channels = self.config.widths
        below = (3, *self.channels[:-1])
        self.enc = nn.ModuleList(_encoder(b, c, self.config) for b, c in zip(below, self.channels))
        self.dec = nn.ModuleList(_decoder(c, b, self.config, to_image=(i == 0))
                                 for i, (b, c) in enumerate(zip(below, self.channels)))

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        states, h = [], image
        for enc in self.enc:
            h = enc(h)
            states.append(h)
        return states

    def decode(self, top: torch.Tensor) -> torch.Tensor:
        h = top
        for dec in reversed(self.dec):
            h = dec(h)
        return h

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(image)[-1])

    def drives(self, image: torch.Tensor, states: list[torch.Tensor], context: StepContext | None = None) -> Drives:
        below = [image, *states[:-1]]
        up = [enc(b) for enc, b in zip(self.enc, below)]
        down = [dec(s) for dec, s in zip(self.dec[1:], states[1:])] + [states[-1]]
        prediction = self.dec[0](states[0])
        return Drives(up=up, down=down, prediction=prediction)
