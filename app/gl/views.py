"""What the output shows: the prediction alone, input | prediction | error, or a debug grid of
every layer (columns: image, then layers 1 … L; rows: prediction / input / error for the image,
and the model's three rows per layer — state / bottom-up / top-down for the autoencoder,
signal / prediction / error for PVM). A PVM that predicts two steps ahead adds a column after the
image's with its prediction of the frame after next beside the prediction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import moderngl
import torch

from app.resources import shader_dir
from app.gl.atlas import AtlasLayout
from app.gl.shaders import program_from_file, set_uniform
from app.gl.host_transfer import HostTransfer

VIEWS = ("main", "compare", "grid")
IMAGE_ROWS = ("prediction", "input", "error")
T2 = "prediction t+2"


@dataclass
class Cell:
    """One square of a view: what it shows and where (pixels, y down from the top)."""
    label: str
    x: int
    y: int
    w: int
    h: int


@dataclass
class Frame:
    """Textures and statistics a view draws from."""
    input: moderngl.Texture
    prediction: moderngl.Texture          # the prediction of this input
    # the grid's three rows: (name, atlas, second atlas or None); with a second atlas the row shows |a − b|
    rows: tuple[tuple[str, moderngl.Texture, moderngl.Texture | None], ...]
    layout: AtlasLayout
    stats: Callable[[], list[dict[str, tuple[float, float]]]]   # per layer: row name → (center, scale)
    prediction_t2: torch.Tensor | None = None   # (S, S, 3): the frame after next, from a two-step PVM

    @property
    def row_names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.rows)

    @property
    def two_step(self) -> bool:
        return self.prediction_t2 is not None


def grid_shape(view: str, n_layers: int, two_step: bool = False) -> tuple[int, int]:
    """(columns, rows) of square cells."""
    return {"main": (1, 1), "compare": (3, 1), "grid": (n_layers + 1 + two_step, 3)}[view]


def natural_size(view: str, size: int, n_layers: int, two_step: bool = False) -> tuple[int, int]:
    cols, rows = grid_shape(view, n_layers, two_step)
    return cols * size, rows * size


def cells(view: str, n_layers: int, width: int, height: int,
          row_names: tuple[str, ...] = ("state", "bottom-up", "top-down"), two_step: bool = False) -> list[Cell]:
    """The view's cells fitted (letterboxed) into width × height; the t+2 column has one cell."""
    cols, rows = grid_shape(view, n_layers, two_step)
    side = max(1, min(width // cols, height // rows))
    x0, y0 = (width - cols * side) // 2, (height - rows * side) // 2
    if view == "main":
        labels = [["prediction"]]
    elif view == "compare":
        labels = [["input", "prediction", "error"]]
    else:
        image = [[T2], [None], [None]] if two_step else [[], [], []]
        labels = [[IMAGE_ROWS[r]] + image[r] + [f"layer {l} {row_names[r]}" for l in range(1, n_layers + 1)]
                  for r in range(rows)]
    return [Cell(labels[r][c], x0 + c * side, y0 + r * side, side, side)
            for r in range(rows) for c in range(cols) if labels[r][c] is not None]


class Views:
    def __init__(self, ctx: moderngl.Context):
        self.ctx = ctx
        self.image_program, _ = program_from_file(ctx, shader_dir() / "views" / "image.glsl")
        self.channel_program, _ = program_from_file(ctx, shader_dir() / "views" / "channels.glsl")
        self.image_vao = ctx.vertex_array(self.image_program, [])
        self.channel_vao = ctx.vertex_array(self.channel_program, [])
        self.transfer = HostTransfer()
        self.t2_texture: moderngl.Texture | None = None

    def render(self, frame: Frame, view: str, target: moderngl.Framebuffer, error_gain: float = 4.0,
               region: tuple[int, int, int, int] | None = None,
               canvas: tuple[int, int] | None = None) -> list[Cell]:
        """Draw ``view`` into ``target`` inside ``region`` (x, y from the top, w, h; default: all of it).
        ``canvas`` is the target's pixel size (needed for the window, whose size changes)."""
        target.use()
        fw, fh = canvas or target.size
        rx, ry, rw, rh = region or (0, 0, fw, fh)
        layout_cells = cells(view, len(frame.layout.bands), rw, rh, frame.row_names, frame.two_step)
        stats = frame.stats() if view == "grid" else None
        for cell in layout_cells:
            cell.x += rx
            cell.y += ry
            target.viewport = (cell.x, fh - cell.y - cell.h, cell.w, cell.h)
            self._draw_cell(frame, cell.label, error_gain, stats)
        target.viewport = (0, 0, fw, fh)
        return layout_cells

    def _draw_cell(self, frame: Frame, label: str, error_gain: float, stats) -> None:
        if label in ("input", "prediction", "error", T2):
            p = self.image_program
            a = self._t2(frame.prediction_t2) if label == T2 else \
                frame.prediction if label == "prediction" else frame.input
            a.use(0)
            frame.prediction.use(1)
            set_uniform(p, "a_tex", 0)
            set_uniform(p, "b_tex", 1)
            set_uniform(p, "kind", 1 if label == "error" else 0)
            set_uniform(p, "gain", error_gain)
            self.image_vao.render(moderngl.TRIANGLES, vertices=3)
            return
        _, number, quantity = label.split(" ", 2)
        layer = int(number) - 1
        band = frame.layout.bands[layer]
        _, texture, other = next(row for row in frame.rows if row[0] == quantity)
        center, scale = stats[layer][quantity]
        grid_cols = math.ceil(math.sqrt(band.channels))
        p = self.channel_program
        texture.use(0)
        (other or texture).use(1)
        set_uniform(p, "atlas_tex", 0)
        set_uniform(p, "other_tex", 1)
        set_uniform(p, "difference", other is not None)
        set_uniform(p, "band_y0", band.y0)
        set_uniform(p, "tile_size", (band.width, band.height))
        set_uniform(p, "band_columns", band.columns)
        set_uniform(p, "channels", band.channels)
        set_uniform(p, "grid_columns", grid_cols)
        set_uniform(p, "grid_rows", math.ceil(band.channels / grid_cols))
        set_uniform(p, "center", center)
        set_uniform(p, "scale", scale)
        self.channel_vao.render(moderngl.TRIANGLES, vertices=3)

    def _t2(self, image: torch.Tensor) -> moderngl.Texture:
        """The t+2 prediction in a texture of its size."""
        height, width = image.shape[:2]
        if self.t2_texture is None or self.t2_texture.size != (width, height):
            if self.t2_texture is not None:
                self.t2_texture.release()
            self.t2_texture = self.ctx.texture((width, height), 3, dtype="f4")
            self.t2_texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.transfer.upload(self.t2_texture, image)
        return self.t2_texture
