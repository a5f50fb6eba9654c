"""Layout of every feature layer in one RGBA float texture (an atlas).

Layer l with C channels of H×W is cut into ceil(C/4) tiles of H×W RGBA texels (four channels per
texel) laid out row-major in a band of the atlas; bands are stacked vertically. One texture per
quantity (state, bottom-up, top-down) lets one draw call mix every layer, and one transfer move
them. Row 0 of a tile is row 0 of the feature map (the image's top).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Band:
    channels: int
    height: int
    width: int
    tiles: int
    columns: int
    rows: int
    y0: int

    @property
    def y1(self) -> int:
        return self.y0 + self.rows * self.height


class AtlasLayout:
    def __init__(self, shapes: list[tuple[int, int, int]]):
        if not shapes:
            raise ValueError("an atlas needs at least one layer")
        texels = sum(math.ceil(c / 4) * h * w for c, h, w in shapes)
        widest = max(w for _, _, w in shapes)
        self.width = max(widest, 1 << math.ceil(math.log2(max(1, math.sqrt(texels)))))
        bands, y = [], 0
        for c, h, w in shapes:
            tiles = math.ceil(c / 4)
            columns = min(tiles, self.width // w)
            rows = math.ceil(tiles / columns)
            bands.append(Band(c, h, w, tiles, columns, rows, y))
            y += rows * h
        self.bands: tuple[Band, ...] = tuple(bands)
        self.height = y

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def pack(self, layers: list[torch.Tensor]) -> torch.Tensor:
        """(1, C, H, W) tensors → one (height, width, 4) float32 tensor on the same device."""
        device = layers[0].device
        atlas = torch.zeros((self.height, self.width, 4), dtype=torch.float32, device=device)
        for band, t in zip(self.bands, layers):
            c = band.channels
            x = t.reshape(c, band.height, band.width).float()
            padded = band.tiles * 4
            if padded != c:
                x = torch.cat([x, x.new_zeros((padded - c, band.height, band.width))])
            grid_tiles = band.rows * band.columns
            x = x.reshape(band.tiles, 4, band.height, band.width).permute(0, 2, 3, 1)
            if grid_tiles != band.tiles:
                x = torch.cat([x, x.new_zeros((grid_tiles - band.tiles, band.height, band.width, 4))])
            x = x.reshape(band.rows, band.columns, band.height, band.width, 4).permute(0, 2, 1, 3, 4)
            atlas[band.y0:band.y1, : band.columns * band.width] = x.reshape(band.rows * band.height,
                                                                             band.columns * band.width, 4)
        return atlas

    def unpack(self, atlas: torch.Tensor) -> list[torch.Tensor]:
        """(height, width, 4) → list of (1, C, H, W) tensors (views copied into new memory)."""
        out = []
        for band in self.bands:
            x = atlas[band.y0:band.y1, : band.columns * band.width]
            x = x.reshape(band.rows, band.height, band.columns, band.width, 4).permute(0, 2, 4, 1, 3)
            x = x.reshape(band.rows * band.columns * 4, band.height, band.width)[: band.channels]
            out.append(x.unsqueeze(0).contiguous())
        return out

    def uniforms(self) -> dict[str, list]:
        """Per-band layout arrays for the GLSL side (see shaders/lib/atlas.glsl)."""
        return {
            "band_y0": [b.y0 for b in self.bands],
            "band_y1": [b.y1 for b in self.bands],
            "band_tile": [(b.width, b.height) for b in self.bands],
            "band_columns": [b.columns for b in self.bands],
            "band_tiles": [b.tiles for b in self.bands],
        }
