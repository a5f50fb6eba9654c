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
        self._indices: dict[tuple, torch.Tensor] = {}

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def pack(self, layers: list[torch.Tensor], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(1, C, H, W) tensors → one (height, width, 4) tensor of ``dtype`` on the same device, padding
        texels 0. Two kernels, whatever the number of layers: the layers are joined in their own
        memory order (no copy into a common layout first) and gathered into place."""
        channels_last = tuple(_is_channels_last(t) for t in layers)
        flat = torch.cat([layers[0].new_zeros(1).to(dtype),
                          *(_flat(t, last).to(dtype) for t, last in zip(layers, channels_last))])
        return flat[self._gather_index(channels_last, flat.device)].view(self.height, self.width, 4)

    def unpack(self, atlas: torch.Tensor) -> list[torch.Tensor]:
        """(height, width, 4) → list of (1, C, H, W) channels_last tensors, views of one new tensor
        made by one gather."""
        flat = atlas.reshape(-1)[self._scatter_index(atlas.device)]
        out, start = [], 0
        for band in self.bands:
            n = band.channels * band.height * band.width
            nhwc = flat[start:start + n].view(1, band.height, band.width, band.channels)
            out.append(nhwc.permute(0, 3, 1, 2))
            start += n
        return out

    # ---- where every element goes -----------------------------------------------------------
    def _positions(self, band: Band, channels_last: bool) -> torch.Tensor:
        """The atlas position (flat index into height × width × 4) of every element of the band's
        layer, in the layer's memory order (NCHW, or NHWC for channels_last)."""
        c = torch.arange(band.channels).view(-1, 1, 1)
        y = torch.arange(band.height).view(1, -1, 1)
        x = torch.arange(band.width).view(1, 1, -1)
        tile, component = c // 4, c % 4
        row = band.y0 + (tile // band.columns) * band.height + y
        column = (tile % band.columns) * band.width + x
        position = (row * self.width + column) * 4 + component        # (C, H, W)
        return (position.permute(1, 2, 0) if channels_last else position).reshape(-1)

    def _gather_index(self, channels_last: tuple[bool, ...], device: torch.device) -> torch.Tensor:
        """For every atlas element, 1 + its place in the joined layers, or 0 (padding)."""
        key = ("gather", channels_last, device)
        if key not in self._indices:
            index = torch.zeros(self.height * self.width * 4, dtype=torch.long)
            offset = 1
            for band, last in zip(self.bands, channels_last):
                positions = self._positions(band, last)
                index[positions] = torch.arange(offset, offset + positions.numel())
                offset += positions.numel()
            self._indices[key] = index.to(device)
        return self._indices[key]

    def _scatter_index(self, device: torch.device) -> torch.Tensor:
        """The atlas position of every layer element, layers one after another, each NHWC."""
        key = ("scatter", device)
        if key not in self._indices:
            self._indices[key] = torch.cat([self._positions(band, True) for band in self.bands]).to(device)
        return self._indices[key]

    def uniforms(self) -> dict[str, list]:
        """Per-band layout arrays for the GLSL side (see shaders/lib/atlas.glsl)."""
        return {
            "band_y0": [b.y0 for b in self.bands],
            "band_y1": [b.y1 for b in self.bands],
            "band_tile": [(b.width, b.height) for b in self.bands],
            "band_columns": [b.columns for b in self.bands],
            "band_tiles": [b.tiles for b in self.bands],
        }


def _is_channels_last(t: torch.Tensor) -> bool:
    return t.shape[1] > 1 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


def _flat(t: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A (1, C, H, W) tensor's elements in its memory order (a view when its memory is dense)."""
    return (t.permute(0, 2, 3, 1) if channels_last else t).reshape(-1)
