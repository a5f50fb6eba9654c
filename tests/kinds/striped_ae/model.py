"""A model kind for tests: the hourglass autoencoder with a decoder broken on purpose. It adds
diagonal stripes of ``STRIPE_PERIOD`` pixels to the logits of the picture it decodes, and shifts
the red logits up and the blue ones down by ``saturation``, which clips the picture to orange-red."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
from app.models.base import Drives, StepContext

STRIPE_PERIOD = 4


@dataclass
class StripedAEConfig(AutoencoderConfig):
    stripes: float = 0.0        # amplitude of the stripes, in logits
    saturation: float = 0.0     # added to the red logits, taken from the blue ones


class StripedAE(ConvAutoencoder):
    kind = "striped-ae"

    def drives(self, image: torch.Tensor, states: list[torch.Tensor], context: StepContext | None = None) -> Drives:
        drives = super().drives(image, states, context)
        logits = torch.logit(drives.prediction, eps=1e-6)
        n = logits.shape[-1]
        y, x = torch.meshgrid(torch.arange(n, device=logits.device), torch.arange(n, device=logits.device),
                              indexing="ij")
        stripes = torch.sin(2 * math.pi * (x + y) / STRIPE_PERIOD).to(logits.dtype)
        shift = torch.tensor([1.0, 0.0, -1.0], device=logits.device, dtype=logits.dtype).view(1, 3, 1, 1)
        prediction = torch.sigmoid(logits + self.config.stripes * stripes + self.config.saturation * shift)
        return Drives(up=drives.up, down=drives.down, prediction=prediction)
