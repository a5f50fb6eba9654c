"""A video file played in a loop, by wall clock or one frame per read."""

import time
from pathlib import Path

import cv2
import numpy as np

from app.errors import UserError
from app.sources.fit import fit_bgr_capture

DEFAULT_FPS = 30.0
# After a long stall (window dragged, debugger) resume from where we were instead of decoding the gap.
MAX_CATCH_UP_FRAMES = 30


class VideoFileSource:
    """Loops a video file forever.

    realtime=True follows the file's own frame rate by wall clock: read() returns None
    until the next frame is due and skips frames when the caller falls behind.
    realtime=False returns the next frame on every read(), for deterministic recording.
    """

    def __init__(self, path: Path | str, size: int, *, realtime: bool = False):
        self.path = Path(path)
        self.name = self.path.name
        self.message = ""
        self._size = size
        self._realtime = realtime
        if not self.path.is_file():
            raise UserError(f"cannot read video '{self.path}': file not found")
        self._capture = self._open_capture()
        ok, first_bgr = self._capture.read()
        if not ok:
            self._capture.release()
            raise UserError(f"cannot read video '{self.path}': it has no frames OpenCV can decode")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else DEFAULT_FPS
        self._pending: np.ndarray | None = fit_bgr_capture(first_bgr, size)
        self._frames_shown = 0
        self._clock_origin: float | None = None

    @property
    def frame_count(self) -> int:
        """Frames in the file as its header states them (0 when it does not say)."""
        return max(0, int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)))

    def read(self) -> np.ndarray | None:
        if not self._realtime:
            return self._next_frame()
        now = time.monotonic()
        if self._clock_origin is None:
            self._clock_origin = now
        due = int((now - self._clock_origin) * self.fps) + 1
        behind = due - self._frames_shown
        if behind <= 0:
            return None
        if behind > MAX_CATCH_UP_FRAMES:
            self._clock_origin = now - self._frames_shown / self.fps
            behind = 1
        for _ in range(behind - 1):
            self._skip_frame()
        return self._next_frame()

    def close(self) -> None:
        self._capture.release()

    def _next_frame(self) -> np.ndarray:
        self._frames_shown += 1
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        self._advance()
        ok, frame_bgr = self._capture.retrieve()
        if not ok:
            raise UserError(f"cannot read video '{self.path}': a frame failed to decode")
        return fit_bgr_capture(frame_bgr, self._size)

    def _skip_frame(self) -> None:
        self._frames_shown += 1
        if self._pending is not None:
            self._pending = None
        else:
            self._advance()

    def _advance(self) -> None:
        """Grab the next frame, looping at the end: seek back to frame 0, or reopen the file if seeking fails."""
        if self._capture.grab():
            return
        if self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0) and self._capture.grab():
            return
        self._capture.release()
        self._capture = self._open_capture()
        if not self._capture.grab():
            raise UserError(f"cannot read video '{self.path}': decoding failed when looping back to the start")

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise UserError(f"cannot read video '{self.path}': not a video OpenCV can decode")
        return capture
