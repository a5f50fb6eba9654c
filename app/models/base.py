"""The layer-stack interface every dreaming model implements.

A model is a stack of layers: layer 0 is the image (3 channels, S×S), layers 1…L are feature
maps. Each step the model computes, from the current input image and the previous layer states,
every layer's bottom-up drive (the encoding of the layer below), its top-down drive (the decoding
of the layer above) and the prediction of the image. The GLSL mixer turns drives into new states.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Drives:
    up: list[torch.Tensor]       # per feature layer, (1, C, H, W): encoding of the layer below
    down: list[torch.Tensor]     # per feature layer, (1, C, H, W): decoding of the layer above
    prediction: torch.Tensor     # (1, 3, S, S) in [0, 1]: the image fed back at the next step
    # the prediction of this step's input, where it differs from ``prediction`` (a model that
    # predicts the next frame); the views compare it with the input
    seen_prediction: torch.Tensor | None = None


class LayerStack(nn.Module):
    """Base class: subclasses define ``channels`` (feature layers 1…L) and ``drives``."""

    channels: tuple[int, ...]
    kind: str

    @property
    def depth(self) -> int:
        return len(self.channels)

    @property
    def size_multiple(self) -> int:
        """Input sizes must be multiples of this."""
        return 2 ** self.depth

    def layer_shapes(self, size: int) -> list[tuple[int, int, int]]:
        return [(c, size >> (i + 1), size >> (i + 1)) for i, c in enumerate(self.channels)]

    def drives(self, image: torch.Tensor, states: list[torch.Tensor]) -> Drives:
        raise NotImplementedError

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The feed-forward states: every layer's encoding of the one below, starting at the image."""
        raise NotImplementedError

    def noise_states(self, size: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> list[torch.Tensor]:
        return [(torch.rand((1, *shape), generator=generator) * 2 - 1).mul_(0.5).to(device)
                for shape in self.layer_shapes(size)]
