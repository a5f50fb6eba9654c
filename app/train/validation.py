"""Validation PSNR: how well the whole hourglass reconstructs the held-out photos at 256²."""

from __future__ import annotations

import torch

from app.models.base import LayerStack
from app.train.data import VALIDATION_SIZE, validation_images


@torch.no_grad()
def psnr(model: LayerStack, images: torch.Tensor, batch: int = 4) -> float:
    """Mean PSNR (dB) over ``images`` (N, 3, S, S) in [0, 1]."""
    device = next(model.parameters()).device
    values = []
    for chunk in images.split(batch):
        chunk = chunk.to(device)
        error = (model(chunk).float().clamp(0, 1) - chunk).pow(2).mean(dim=(1, 2, 3))
        values.append(-10 * torch.log10(error.clamp_min(1e-10)))
    return float(torch.cat(values).mean())


def validation_psnr(model: LayerStack, size: int = VALIDATION_SIZE) -> float:
    was_training = model.training
    model.eval()
    try:
        return psnr(model, validation_images(size))
    finally:
        model.train(was_training)
