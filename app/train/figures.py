"""PNG grids: photos over their reconstructions, and dreams from noise."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from app.models.base import LayerStack
from app.loop import mirror as loop

GAP = 4


def grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Rows of (H, W, 3) float images in [0, 1] → one uint8 RGB image with white gaps."""
    h, w = rows[0][0].shape[:2]
    columns = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + GAP) - GAP, columns * (w + GAP) - GAP, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            y, x = i * (h + GAP), j * (w + GAP)
            out[y:y + h, x:x + w] = np.clip(np.nan_to_num(image) * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def _hwc(batch: torch.Tensor) -> list[np.ndarray]:
    return list(batch.detach().float().cpu().permute(0, 2, 3, 1).numpy())


@torch.no_grad()
def reconstructions(model: LayerStack, images: torch.Tensor) -> np.ndarray:
    """Photos (top row) over the hourglass's reconstructions (bottom row)."""
    device = next(model.parameters()).device
    return grid([_hwc(images), _hwc(model(images.to(device)))])


@torch.no_grad()
def dreams(model: LayerStack, rule: loop.Rule, size: int, steps: int, count: int, seed: int = 0,
           checkpoints: tuple[int, ...] = (1, 10, 30)) -> tuple[np.ndarray, torch.Tensor]:
    """Full dreams from noise through the torch mirror of the loop: one column per dream, one row per
    step in ``checkpoints`` and a last row at ``steps``. Returns the grid and the end frames."""
    device = next(model.parameters()).device
    prediction, states = loop.noise_start(model, count, size, torch.Generator().manual_seed(seed), device)
    rows = []
    for step in range(1, steps + 1):
        prediction, states = loop.step(model, rule, prediction, states)
        if step in checkpoints or step == steps:
            rows.append(_hwc(prediction))
    return grid(rows), prediction
