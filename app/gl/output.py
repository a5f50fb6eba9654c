"""An offscreen render target whose pixels can be read back (recording, screenshots, bench), and the
sizes it may have."""

from __future__ import annotations

import re

import moderngl
import numpy as np

from app.errors import UserError

MAX_OUTPUT_SIZE = (7680, 4320)


def parse_output_size(text: str, option: str = "--output-size") -> tuple[int, int]:
    """'1920x1080' → (1920, 1080): even (H.264 4:2:0 halves both), positive, at most 8K. ``option``
    names the setting in the error message."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if match is None:
        raise UserError(f"{option} '{text}' is not WIDTHxHEIGHT: use e.g. 1920x1080")
    width, height = int(match[1]), int(match[2])
    max_width, max_height = MAX_OUTPUT_SIZE
    if not (0 < width <= max_width and 0 < height <= max_height):
        raise UserError(f"{option} {width}x{height} is outside 2x2 .. {max_width}x{max_height}")
    if width % 2 or height % 2:
        raise UserError(f"{option} {width}x{height} must be even in both directions (H.264 needs it): "
                        f"use e.g. {width + width % 2}x{height + height % 2}")
    return width, height


class OffscreenTarget:
    """Starts black: views letterboxed into it leave the bars untouched."""

    def __init__(self, ctx: moderngl.Context, width: int, height: int):
        self.ctx = ctx
        self.size = (width, height)
        self.texture = ctx.texture((width, height), 4, dtype="f1")
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.fbo = ctx.framebuffer(color_attachments=[self.texture])
        self.clear()

    def clear(self) -> None:
        self.fbo.use()
        self.fbo.clear(0.0, 0.0, 0.0, 1.0)

    def read(self) -> np.ndarray:
        """(height, width, 3) uint8 RGB, row 0 at the top."""
        width, height = self.size
        data = self.fbo.read(components=3, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1].copy()

    def release(self) -> None:
        self.fbo.release()
        self.texture.release()
