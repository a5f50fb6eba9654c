"""A video file played in a loop, by wall clock or one frame per read."""

import queue
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from app.errors import UserError
from app.sources.fit import fit_bgr_capture

DEFAULT_FPS = 30.0
# After a long stall (window dragged, debugger) resume from where we were instead of decoding the gap.
MAX_CATCH_UP_FRAMES = 30
# Decoded ahead of the clock in realtime mode; a frame that is slow to decode (a keyframe, the loop
# back to the start) then never holds up the loop that reads it.
PREFETCH_FRAMES = 4


class VideoFileSource:
    """Loops a video file forever.

    realtime=True follows the file's own frame rate by wall clock: read() returns None
    until the next frame is due and skips frames when the caller falls behind. A thread decodes a
    few frames ahead, so read() never waits for the decoder (if it falls behind, read() returns
    None and the last frame stays).
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
        self._frame_count = max(0, int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        self._pending: np.ndarray | None = fit_bgr_capture(first_bgr, size)
        self._frames_shown = 0
        self._clock_origin: float | None = None
        if realtime:
            self._decoded: queue.Queue = queue.Queue(maxsize=PREFETCH_FRAMES)
            self._decoded.put(self._pending)
            self._pending = None
            self._failure: str | None = None
            self._stop = threading.Event()
            self._decoder = threading.Thread(target=self._decode_ahead, name=f"{self.name} decoder", daemon=True)
            self._decoder.start()

    @property
    def frame_count(self) -> int:
        """Frames in the file as its header states them (0 when it does not say)."""
        return self._frame_count

    def read(self) -> np.ndarray | None:
        if not self._realtime:
            self._frames_shown += 1
            return self._decode_next()
        if self._failure is not None:
            raise UserError(self._failure)
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
        frame = None
        for _ in range(behind):          # the newest frame due; the ones before it are skipped
            try:
                frame = self._decoded.get_nowait()
            except queue.Empty:
                break
            self._frames_shown += 1
        return frame

    def close(self) -> None:
        if self._realtime:
            self._stop.set()
            self._decoder.join(timeout=1.0)    # the decoder releases the capture as it ends
        else:
            self._capture.release()

    def _decode_ahead(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._decode_next()
                while not self._stop.is_set():
                    try:
                        self._decoded.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except UserError as e:
            self._failure = str(e)
        finally:
            self._capture.release()

    def _decode_next(self) -> np.ndarray:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        self._advance()
        ok, frame_bgr = self._capture.retrieve()
        if not ok:
            raise UserError(f"cannot read video '{self.path}': a frame failed to decode")
        return fit_bgr_capture(frame_bgr, self._size)

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
