"""The hourglass convolutional autoencoder as a layer stack.

Layer l (1…L) halves the resolution of layer l−1. ``enc[l]`` maps layer l−1 to layer l and
``dec[l]`` maps layer l back to layer l−1, so every layer has a bottom-up drive (enc of the layer
below) and a top-down drive (dec of the layer above). The top layer's top-down drive is its own
state, as in feature-feedback. Codes are squashed by ``code_activation`` (tanh keeps the states
the mixer sees in [−1, 1]); the image decoder ends in a sigmoid.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

import torch
from torch import nn

from app.models.base import Drives, LayerStack, StepContext
from app.params import MAX_LAYERS

HIDDEN_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU}
CODE_ACTIVATIONS = {"tanh": nn.Tanh, "identity": nn.Identity}
MAX_WIDTH = 1024            # channels of a feature layer


@dataclass
class AutoencoderConfig:
    """Checked on construction (a card's values come from a file people edit): 1 to ``MAX_LAYERS``
    widths of 1 to ``MAX_WIDTH`` channels, known activations; anything else is a one-line ValueError."""
    widths: tuple[int, ...] = (32, 64, 128, 256)
    activation: str = "gelu"
    code_activation: str = "tanh"

    def __post_init__(self):
        widths = self.widths
        if not isinstance(widths, (list, tuple)) or not 1 <= len(widths) <= MAX_LAYERS:
            raise ValueError(f"widths must be a list of 1 to {MAX_LAYERS} channel counts, e.g. [16, 32, 64, 128], "
                             f"got {widths!r:.80}")
        for w in widths:
            if isinstance(w, bool) or not isinstance(w, numbers.Integral) or not 1 <= w <= MAX_WIDTH:
                raise ValueError(f"widths must be whole numbers from 1 to {MAX_WIDTH}, got {w!r:.40} in "
                                 f"{list(widths)!r:.80}")
        self.widths = tuple(int(w) for w in widths)
        for key, known in (("activation", HIDDEN_ACTIVATIONS), ("code_activation", CODE_ACTIVATIONS)):
            value = getattr(self, key)
            if not isinstance(value, str) or value not in known:
                raise ValueError(f"{key} must be one of {', '.join(sorted(known))}, got {value!r:.40}")

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

    def prober(self, size: int):
        """Its layers and the convolutions inside them, with receptive fields from their geometry."""
        from app.models.autoencoder.probe import AutoencoderProbe
        return AutoencoderProbe(self, size)

    def drives(self, image: torch.Tensor, states: list[torch.Tensor], context: StepContext | None = None) -> Drives:
        below = [image, *states[:-1]]
        up = [enc(b) for enc, b in zip(self.enc, below)]
        down = [dec(s) for dec, s in zip(self.dec[1:], states[1:])] + [states[-1]]
        prediction = self.dec[0](states[0])
        return Drives(up=up, down=down, prediction=prediction)
