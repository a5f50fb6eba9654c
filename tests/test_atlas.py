"""The atlas layout: every layer's channels in RGBA tiles of one texture, packed and unpacked by
gathers, checked against a direct, slice-by-slice packing."""

import pytest
import torch

from app.gl.atlas import AtlasLayout

# channel counts that are not multiples of 4, tiles wider than tall, a band of several rows of tiles
SHAPES = [(5, 8, 12), (16, 4, 6), (3, 2, 3), (130, 8, 8)]


def sliced_pack(layout: AtlasLayout, layers: list[torch.Tensor]) -> torch.Tensor:
    atlas = torch.zeros((layout.height, layout.width, 4))
    for band, layer in zip(layout.bands, layers):
        for c in range(band.channels):
            tile, component = divmod(c, 4)
            row, column = divmod(tile, band.columns)
            y, x = band.y0 + row * band.height, column * band.width
            atlas[y:y + band.height, x:x + band.width, component] = layer[0, c]
    return atlas


@pytest.fixture
def layers():
    generator = torch.Generator().manual_seed(0)
    return [torch.randn((1, *shape), generator=generator) for shape in SHAPES]


@pytest.mark.parametrize("channels_last", [False, True])
def test_pack_places_every_channel_where_the_shaders_read_it(layers, channels_last):
    layout = AtlasLayout(SHAPES)
    if channels_last:
        layers = [t.contiguous(memory_format=torch.channels_last) for t in layers]
    atlas = layout.pack(layers)
    assert atlas.shape == (layout.height, layout.width, 4) and atlas.dtype == torch.float32
    assert torch.equal(atlas, sliced_pack(layout, layers))
    assert layout.pack(layers, torch.float16).dtype == torch.float16


def test_unpack_inverts_pack_into_channels_last_layers(layers):
    layout = AtlasLayout(SHAPES)
    back = layout.unpack(layout.pack(layers))
    for got, want in zip(back, layers):
        assert got.shape == want.shape
        assert got.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(got, want)
