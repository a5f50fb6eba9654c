"""Live camera capture that always hands out the newest frame."""

import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from app.errors import UserError
from app.sources.fit import fit_bgr_capture

REQUESTED_WIDTH, REQUESTED_HEIGHT = 1280, 720
MAX_CONSECUTIVE_FAILURES = 10
RETRY_PAUSE_SECONDS = 0.02
STALL_SECONDS = 2.0
# Some cameras take a few seconds to deliver their first frame after opening.
FIRST_FRAME_SECONDS = 5.0


class WebcamSource:
    """Reads a cv2 capture on a daemon thread and keeps only the newest frame.

    `target` is a camera index, or anything else cv2.VideoCapture opens (a video
    file behaves like a camera that is unplugged when the file ends).
    """

    def __init__(self, target: int | str, size: int):
        self.name = f"webcam {target}" if isinstance(target, int) else Path(target).name or target
        self.message = ""
        self.lost = False
        self._size = size
        self._capture = _open_capture(target)
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._fresh = False
        self._opened_at = time.monotonic()
        self._last_frame_at: float | None = None
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_forever, name=f"{self.name} reader", daemon=True)
        self._reader.start()

    def read(self) -> np.ndarray | None:
        with self._lock:
            self._check_stalled()
            if not self._fresh:
                return None
            self._fresh = False
            return self._frame

    def close(self) -> None:
        self._stop.set()
        self._reader.join(timeout=1.0)

    def _read_forever(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                ok, frame_bgr = self._capture.read()
                if not ok:
                    failures += 1
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        with self._lock:
                            self._mark_lost(f"{self.name} lost: it stopped delivering frames")
                        return
                    time.sleep(RETRY_PAUSE_SECONDS)
                    continue
                failures = 0
                frame = fit_bgr_capture(frame_bgr, self._size)
                with self._lock:
                    self._frame = frame
                    self._fresh = True
                    self._last_frame_at = time.monotonic()
        finally:
            # Released here rather than in close(): the capture must not be freed while read() is blocked in it.
            self._capture.release()

    def _check_stalled(self) -> None:
        if self.lost:
            return
        now = time.monotonic()
        if self._last_frame_at is None:
            if now - self._opened_at > FIRST_FRAME_SECONDS:
                self._mark_lost(f"{self.name} lost: no frame in the first {FIRST_FRAME_SECONDS:g} s")
        elif now - self._last_frame_at > STALL_SECONDS:
            self._mark_lost(f"{self.name} lost: no frame for {STALL_SECONDS:g} s")

    def _mark_lost(self, message: str) -> None:
        self.lost = True
        self.message = message


def _open_capture(target: int | str) -> cv2.VideoCapture:
    if isinstance(target, str):
        capture = cv2.VideoCapture(target)
        if not capture.isOpened():
            raise UserError(f"cannot open capture '{target}'; check the path or pick another source with --source")
        return capture
    with _quiet_opencv():
        capture = _open_camera(target)
    if capture is None:
        raise UserError(
            f"no webcam at index {target} (OpenCV could not open it); connect one or pick another source with --source"
        )
    capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    capture.set(cv2.CAP_PROP_FRAME_WIDTH, REQUESTED_WIDTH)
    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, REQUESTED_HEIGHT)
    return capture


def _open_camera(index: int) -> cv2.VideoCapture | None:
    backends = [cv2.CAP_V4L2, cv2.CAP_ANY] if sys.platform.startswith("linux") else [cv2.CAP_ANY]
    for backend in backends:
        capture = cv2.VideoCapture(index, backend)
        if capture.isOpened():
            return capture
        capture.release()
    return None


def find_cameras(max_index: int = 4) -> list[str]:
    """Cameras that open, as source specs with their default resolution and backend."""
    found = []
    with _quiet_opencv():
        for index in range(max_index):
            capture = _open_camera(index)
            if capture is not None:
                width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
                height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
                found.append(f"webcam:{index} ({width}x{height}, {capture.getBackendName()})")
                capture.release()
    return found


@contextmanager
def _quiet_opencv():
    """Silence OpenCV's per-backend warnings while probing for a camera; the caller reports failure itself."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)
