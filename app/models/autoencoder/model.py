"""The hourglass convolutional autoencoder as a layer stack.

Layer l (1…L) halves the resolution of layer l−1. ``enc[l]`` maps layer l−1 to layer l and
``dec[l]`` maps layer l back to layer l−1, so every layer has a bottom-up drive (enc of the layer
below) and a top-down drive (dec of the layer above). The top layer's top-down drive is its own
state, as in feature-feedback. Codes are squashed by ``code_activation`` (tanh keeps the states
the mixer sees in [−1, 1]); the image decoder ends in a sigmoid.

``resample="smooth"`` low-passes before every stride-2 convolution (a binomial blur) and upsamples
bilinearly: a loop that feeds its predictions back amplifies whatever aliasing the resampling
leaves into stripes and checkerboards (``"stride"``, nearest-neighbour upsampling, is the first
models' choice). ``padding="reflect"`` keeps the frame's edges from reading as dark borders the
loop grows inward; ``blocks`` residual blocks per level widen every layer's receptive field.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

import torch
from torch import nn

from app.models.autoencoder.blocks import Blur, EdgeConv, Residual
from app.models.base import Drives, LayerStack, StepContext
from app.params import MAX_LAYERS

HIDDEN_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU}
CODE_ACTIVATIONS = {"tanh": nn.Tanh, "identity": nn.Identity}
RESAMPLING = ("stride", "smooth")
PADDINGS = ("zeros", "reflect")
MAX_WIDTH = 1024            # channels of a feature layer
MAX_BLOCKS = 8              # residual blocks per level


@dataclass
class AutoencoderConfig:
    """Checked on construction (a card's values come from a file people edit): 1 to ``MAX_LAYERS``
    widths of 1 to ``MAX_WIDTH`` channels, known activations; anything else is a one-line ValueError."""
    widths: tuple[int, ...] = (32, 64, 128, 256)
    activation: str = "gelu"
    code_activation: str = "tanh"
    resample: str = "stride"
    padding: str = "zeros"
    blocks: int = 0

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
        for key, known in (("activation", HIDDEN_ACTIVATIONS), ("code_activation", CODE_ACTIVATIONS),
                           ("resample", RESAMPLING), ("padding", PADDINGS)):
            value = getattr(self, key)
            if not isinstance(value, str) or value not in known:
                raise ValueError(f"{key} must be one of {', '.join(sorted(known))}, got {value!r:.40}")
        if isinstance(self.blocks, bool) or not isinstance(self.blocks, numbers.Integral) or \
                not 0 <= self.blocks <= MAX_BLOCKS:
            raise ValueError(f"blocks must be a whole number from 0 to {MAX_BLOCKS}, got {self.blocks!r:.40}")
        self.blocks = int(self.blocks)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d


def _conv(c_in: int, c_out: int, cfg: AutoencoderConfig, stride: int = 1) -> nn.Conv2d:
    return EdgeConv(c_in, c_out, 3, stride=stride, padding=1, padding_mode=cfg.padding)


def _blocks(channels: int, cfg: AutoencoderConfig) -> list[nn.Module]:
    return [Residual(_conv(channels, channels, cfg), HIDDEN_ACTIVATIONS[cfg.activation](),
                     _conv(channels, channels, cfg)) for _ in range(cfg.blocks)]


def _encoder(c_in: int, c_out: int, cfg: AutoencoderConfig) -> nn.Sequential:
    down = [Blur(c_in)] if cfg.resample == "smooth" else []
    return nn.Sequential(
        *down,
        _conv(c_in, c_out, cfg, stride=2),
        HIDDEN_ACTIVATIONS[cfg.activation](),
        *_blocks(c_out, cfg),
        _conv(c_out, c_out, cfg),
        CODE_ACTIVATIONS[cfg.code_activation](),
    )


def _decoder(c_in: int, c_out: int, cfg: AutoencoderConfig, to_image: bool) -> nn.Sequential:
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False) if cfg.resample == "smooth" \
        else nn.Upsample(scale_factor=2, mode="nearest")
    return nn.Sequential(
        _conv(c_in, c_in, cfg),
        HIDDEN_ACTIVATIONS[cfg.activation](),
        *_blocks(c_in, cfg),
        up,
        _conv(c_in, c_out, cfg),
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
