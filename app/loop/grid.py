"""The debug grid's rows for any model: which atlas each row shows, and the scale that maps its
values to gray (a row's fixed scale, else the mean and spread of what it shows)."""

from __future__ import annotations

import moderngl
import torch

from app.models.base import Drives, GridRow


def grid_rows(rows: tuple[GridRow, ...], atlases: dict[str, moderngl.Texture]):
    """(name, atlas, second atlas or None) per row, as ``app.gl.views.Frame`` takes them."""
    return tuple((row.name, atlases[row.atlas], atlases[row.minus] if row.minus else None) for row in rows)


def _spread(t: torch.Tensor) -> tuple[float, float]:
    t = t.float()
    return t.mean().item(), max(2.5 * t.std().item(), 1e-3)


def layer_stats(rows: tuple[GridRow, ...], states: list[torch.Tensor],
                drives: Drives | None) -> list[dict[str, tuple[float, float]]]:
    """Per layer and row, the (center, scale) that maps values to display gray. Before the first
    step (no drives yet) a drive's row takes the state's scale."""
    out = []
    for i, state in enumerate(states):
        tensors = {"state": state}
        if drives is not None:
            tensors.update(up=drives.up[i], down=drives.down[i])
        entry = {}
        for row in rows:
            if row.scale is not None:
                entry[row.name] = row.scale
            else:
                shown = tensors.get(row.atlas, state)
                if row.minus and row.minus in tensors:
                    shown = (shown - tensors[row.minus]).abs()
                entry[row.name] = _spread(shown)
        out.append(entry)
    return out
