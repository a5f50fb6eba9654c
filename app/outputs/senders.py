"""Sinks that send the view to other programs while it runs: a system camera (OBS, Zoom, a browser),
NDI on the network, Syphon on macOS, Spout on Windows.

Each library is an optional extra (`pip install "hypnagogia[camera]"`, `[ndi]`, `[syphon]`,
`[spout]`); without it, or without its device, opening the sink is one line saying what to do, and
the loop carries on. Each sends at its own size and frame rate, on a thread of its own behind
``ThreadedSink``: a slow receiver drops its own frames, counted, and never holds the loop.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from typing import Callable

import numpy as np

from app.errors import UserError
from app.outputs.sinks import BaseSink, Pace, ThreadedSink

CAMERA_SIZE, CAMERA_FPS = (1280, 720), 30.0
SENDER_NAME = "Hypnagogia"
CAMERA_SETUP = {
    "linux": "create one with `sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=Hypnagogia`",
    "darwin": "install OBS and start its virtual camera once",
    "win32": "install OBS and start its virtual camera once",
}


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:160] if text else type(e).__name__


class SenderSink(BaseSink):
    """Frames to ``send(pixels)`` at ``fps``; ``finish()`` at the end."""

    def __init__(self, name: str, send: Callable[[np.ndarray], object], finish: Callable[[], None], fps: float):
        super().__init__(Pace(fps, max_repeats=1))        # a live stream shows the newest frame, no repeats
        self.name = name
        self._send, self._finish = send, finish

    def write(self, pixels: np.ndarray) -> None:
        self._send(pixels)
        self.frames_written += 1

    def close(self) -> str:
        self._finish()
        dropped = f", {self.frames_dropped} dropped" if self.frames_dropped else ""
        return f"{self.name}: {self.frames_written} frames sent{dropped}"


def virtual_camera(size: tuple[int, int] = CAMERA_SIZE, fps: float = CAMERA_FPS) -> ThreadedSink:
    """The view as a system camera (v4l2loopback on Linux, OBS's camera on macOS and Windows)."""
    try:
        import pyvirtualcam
    except ImportError:
        raise UserError('the virtual camera needs pyvirtualcam: pip install "hypnagogia[camera]"') from None
    width, height = size
    try:
        camera = pyvirtualcam.Camera(width=width, height=height, fps=fps, fmt=pyvirtualcam.PixelFormat.RGB)
    except Exception as e:      # noqa: BLE001 - each backend raises its own kind for a missing device
        setup = CAMERA_SETUP.get(sys.platform, "install a virtual camera driver")
        raise UserError(f"no virtual camera device ({_first_line(e)}); {setup}") from None
    return ThreadedSink(SenderSink(f"virtual camera {camera.device}", lambda p: camera.send(np.ascontiguousarray(p)),
                                camera.close, fps))


def ndi(name: str = SENDER_NAME, fps: float = 60.0) -> ThreadedSink:
    """The view as an NDI source named ``name`` on the local network (cyndilib bundles NDI's runtime)."""
    try:
        from cyndilib.sender import Sender
        from cyndilib.video_frame import VideoSendFrame
        from cyndilib.wrapper.ndi_structs import FourCC
    except ImportError:
        raise UserError('NDI needs cyndilib: pip install "hypnagogia[ndi]"') from None
    sender = Sender(name)
    frame = VideoSendFrame()
    frame.set_fourcc(FourCC.RGBA)
    frame.set_frame_rate(Fraction(fps).limit_denominator(1001))
    state = {"size": None}

    def send(pixels: np.ndarray) -> None:
        height, width = pixels.shape[:2]
        if state["size"] is None:           # the resolution is fixed once the sender opens
            frame.set_resolution(width, height)
            sender.set_video_frame(frame)
            sender.open()
            state["size"] = (width, height)
        rgba = np.empty((height, width, 4), np.uint8)
        rgba[..., :3], rgba[..., 3] = pixels, 255
        sender.write_video(rgba.ravel())

    def finish() -> None:
        if state["size"] is not None:
            sender.close()

    return ThreadedSink(SenderSink(f"NDI {name}", send, finish, fps))


def spout(name: str = SENDER_NAME, fps: float = 60.0) -> ThreadedSink:
    """The view as a Spout sender (Windows), through SpoutGL's image path."""
    if sys.platform != "win32":
        raise UserError("Spout is for Windows; on macOS use --syphon, anywhere --ndi")
    try:
        import SpoutGL
        from OpenGL import GL
    except ImportError:
        raise UserError('Spout needs SpoutGL: pip install "hypnagogia[spout]"') from None
    sender = SpoutGL.SpoutSender()
    sender.setSenderName(name)

    def send(pixels: np.ndarray) -> None:
        height, width = pixels.shape[:2]
        rgba = np.empty((height, width, 4), np.uint8)
        rgba[..., :3], rgba[..., 3] = pixels, 255
        sender.sendImage(rgba.tobytes(), width, height, GL.GL_RGBA, False, 0)

    return ThreadedSink(SenderSink(f"Spout {name}", send, sender.releaseSender, fps))


def syphon(name: str = SENDER_NAME, fps: float = 60.0) -> ThreadedSink:
    """The view as a Syphon server (macOS), through syphon-python's Metal server."""
    if sys.platform != "darwin":
        raise UserError("Syphon is for macOS; on Windows use --spout, anywhere --ndi")
    try:
        import syphon
        from syphon.utils.numpy import copy_image_to_mtl_texture
        from syphon.utils.raw import create_mtl_texture
    except ImportError:
        raise UserError('Syphon needs syphon-python: pip install "hypnagogia[syphon]"') from None
    server = syphon.SyphonMetalServer(name)
    state = {"texture": None}

    def send(pixels: np.ndarray) -> None:
        height, width = pixels.shape[:2]
        if state["texture"] is None:
            state["texture"] = create_mtl_texture(server.device, width, height)
        rgba = np.empty((height, width, 4), np.uint8)
        rgba[..., :3], rgba[..., 3] = pixels, 255
        copy_image_to_mtl_texture(rgba, state["texture"])
        server.publish_frame_texture(state["texture"])

    return ThreadedSink(SenderSink(f"Syphon {name}", send, server.stop, fps))


SENDERS = {"camera": virtual_camera, "ndi": ndi, "spout": spout, "syphon": syphon}
