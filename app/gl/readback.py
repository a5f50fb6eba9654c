"""Reads rendered frames back to the CPU without waiting for the GPU.

Each frame is copied into one of a ring of pixel-pack buffers, which returns at once; the buffer is
read ``depth - 1`` frames later, when the copy has long finished. With the default depth of 3:
read frame N, map frame N − 2.
"""

from __future__ import annotations

import collections

import moderngl
import numpy as np

from app.gl.output import OffscreenTarget


class PixelReadback:
    def __init__(self, ctx: moderngl.Context, width: int, height: int, depth: int = 3):
        if depth < 1:
            raise ValueError(f"readback depth {depth} must be at least 1")
        self.size = (width, height)
        self._buffers = [ctx.buffer(reserve=width * height * 3) for _ in range(depth)]
        self._next = 0
        self._pending: collections.deque[moderngl.Buffer] = collections.deque()  # oldest first

    def submit(self, target: OffscreenTarget) -> np.ndarray | None:
        """Starts copying ``target``'s pixels; returns those of the frame submitted ``depth - 1`` calls
        earlier, or None while the ring fills. Pixels are (height, width, 3) uint8 RGB, row 0 at the
        top: a flipped view of a fresh array, which the caller owns."""
        if target.size != self.size:
            raise ValueError(f"target is {target.size} but this readback reads {self.size}")
        buffer = self._buffers[self._next]
        target.fbo.read_into(buffer, components=3, alignment=1)
        self._next = (self._next + 1) % len(self._buffers)
        self._pending.append(buffer)
        if len(self._pending) < len(self._buffers):
            return None
        return self._read_oldest()

    def drain(self) -> list[np.ndarray]:
        """The frames still in flight, oldest first; the ring is empty afterwards."""
        return [self._read_oldest() for _ in range(len(self._pending))]

    def release(self) -> None:
        for buffer in self._buffers:
            buffer.release()

    def _read_oldest(self) -> np.ndarray:
        width, height = self.size
        pixels = np.empty((height, width, 3), np.uint8)
        self._pending[0].read_into(pixels)
        self._pending.popleft()
        return pixels[::-1]
