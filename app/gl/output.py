"""An offscreen render target whose pixels can be read back (recording, screenshots, bench)."""

from __future__ import annotations

import moderngl
import numpy as np


class OffscreenTarget:
    def __init__(self, ctx: moderngl.Context, width: int, height: int):
        self.ctx = ctx
        self.size = (width, height)
        self.texture = ctx.texture((width, height), 4, dtype="f1")
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.fbo = ctx.framebuffer(color_attachments=[self.texture])

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
