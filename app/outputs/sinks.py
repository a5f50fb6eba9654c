"""Where a view output's frames go: a recording, a screenshot; later a virtual camera, NDI, a window.

A view output (app.outputs.view_output) asks each of its sinks once per loop tick how many copies
of this tick's frame it wants, renders the frame if any sink wants it, and a few ticks later (the
readback ring's depth) hands the pixels to those sinks, in order. The contract is ``Sink`` below;
``BaseSink`` fills in the parts most sinks share.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from app.errors import UserError
from app.outputs.recorder import VideoRecorder
from app.outputs.screenshot import save_png

MAX_REPEATS = 4   # after a longer stall a paced stream skips ahead instead of freezing on one frame
THREAD_QUEUE_FRAMES = 2


@runtime_checkable
class Sink(Protocol):
    """The contract between a view output and whatever takes its frames.

    Everything here is called on the loop's thread. ``accepts(now)`` is asked once per tick (``now``:
    time.monotonic()) and is a promise: the n ≥ 0 it returns is how many times ``write`` will get this
    tick's frame, a few ticks later, frames in the order they were accepted. ``pixels`` is (height,
    width, 3) uint8 RGB, row 0 at the top, read-only and shared with the output's other sinks: keep
    it as long as you like, copy it to change it. ``write`` must not hold the loop up: a receiver that
    may be slow goes behind ``ThreadedSink``, which runs it on a thread of its own and drops frames
    for it. A sink that sets ``done`` wants no more frames: its output closes it once the frames it
    accepted have been written, and reports its summary. ``close()`` ends it and returns a line for
    the user saying what became of it; it may raise UserError where the failure must end the program
    (a fixed-step recording that lost frames)."""

    name: str
    error: str | None            # why it stopped taking frames, or None
    frames_written: int
    frames_dropped: int
    done: bool

    def accepts(self, now: float) -> int: ...

    def write(self, pixels: np.ndarray) -> None: ...

    def close(self) -> str: ...


class Pace:
    """The clock of a constant-rate stream (a file at 30 fps fed by a 60 Hz loop): its frame i shows
    the view at i / fps seconds after ``started``. ``copies(now)`` counts the stream's frames that
    fell due since the last call (0 while none has, more than 1 when the loop was slower than the
    stream), at most ``max_repeats``: the rest are skipped rather than shown as one frozen frame."""

    def __init__(self, fps: float, max_repeats: int = MAX_REPEATS, started: float | None = None):
        if not fps > 0:
            raise UserError(f"frame rate {fps} is not positive: use e.g. 30")
        self.fps = fps
        self.max_repeats = max_repeats
        self.started = time.monotonic() if started is None else started
        self.submitted = 0        # stream frames counted so far, skipped ones included

    def frames_due(self, now: float) -> int:
        return int((now - self.started) * self.fps) + 1 - self.submitted

    def copies(self, now: float) -> int:
        due = self.frames_due(now)
        if due <= 0:
            return 0
        self.submitted += due
        return min(due, self.max_repeats)


class BaseSink:
    """Defaults for a sink: one copy of every frame, or as ``pace`` says; counters at zero."""

    name = "sink"
    error: str | None = None
    frames_written = 0
    frames_dropped = 0
    done = False

    def __init__(self, pace: Pace | None = None):
        self.pace = pace

    def accepts(self, now: float) -> int:
        if self.done:
            return 0
        return 1 if self.pace is None else self.pace.copies(now)

    def write(self, pixels: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> str:
        return f"{self.name}: {self.frames_written} frames"


class RecorderSink(BaseSink):
    """Frames into a VideoRecorder. Without ``pace`` every frame is recorded once (``record``, the
    bench); with it, as often as the file's clock says (the window's recording). A fixed-step
    recorder's write blocks until the encoder has room, so no frame is lost; a live one drops and
    counts what its queue cannot hold. After an error a fixed-step recorder's write raises it; a live
    one counts the frames it gets as dropped (the window reads ``error`` and stops the recording)."""

    def __init__(self, recorder: VideoRecorder, pace: Pace | None = None):
        super().__init__(pace)
        self.recorder = recorder
        self.name = recorder.path.name

    @property
    def path(self) -> Path:
        return self.recorder.path

    @property
    def error(self) -> str | None:
        return self.recorder.error

    @property
    def frames_written(self) -> int:
        return self.recorder.frames_written

    @property
    def frames_dropped(self) -> int:
        return self.recorder.frames_dropped

    def write(self, pixels: np.ndarray) -> None:
        self.recorder.write(pixels)

    def close(self) -> str:
        """The one true line about the recording: where its frames are, or why there are none."""
        self.recorder.close()
        return recording_summary(self.recorder)


def recording_summary(recorder: VideoRecorder) -> str:
    """What became of a closed recording, in one line: saved (frames, drops), stopped by an error
    (the error says what was kept), or no file because no frame reached it."""
    if recorder.error is not None:
        return recorder.error
    if recorder.saved_path is None:
        return f"recording {recorder.path} ended before its first frame: no file was left"
    dropped = f", {recorder.frames_dropped} dropped" if recorder.frames_dropped else ""
    if recorder.saved_path != recorder.path:
        return (f"recording saved as {recorder.saved_path} ({recorder.frames_written} frames{dropped}): "
                f"{recorder.path} appeared meanwhile and was left alone")
    return f"recording saved: {recorder.path} ({recorder.frames_written} frames{dropped})"


class ScreenshotSink(BaseSink):
    """One frame as a timestamped PNG in ``folder``; then done, and its output lets it go."""

    name = "screenshot"

    def __init__(self, folder: str | Path, prefix: str = "hypnagogia"):
        super().__init__()
        self.folder = Path(folder)
        self.prefix = prefix
        self.path: Path | None = None

    def accepts(self, now: float) -> int:
        if self.done:
            return 0
        self.done = True
        return 1

    def write(self, pixels: np.ndarray) -> None:
        try:
            self.path = save_png(np.ascontiguousarray(pixels), self.folder, self.prefix)
        except (OSError, UserError) as e:
            self.error = str(e)
            self.frames_dropped += 1
            return
        self.frames_written += 1

    def close(self) -> str:
        if self.error is not None:
            return f"screenshot failed: {self.error}"
        if self.path is None:
            return "screenshot failed: the output closed before the frame was read back"
        return f"screenshot saved: {self.path}"


class ThreadedSink:
    """Another sink's ``write`` on a thread of its own, behind a queue of ``queue_frames`` frames.

    For receivers that may be slow (a virtual camera, NDI, another window): ``write`` here never
    waits; a frame that finds the queue full is dropped and counted in ``frames_dropped``, so a slow
    receiver loses frames instead of the loop losing time. ``accepts`` and ``close`` stay on the
    caller's thread; ``close`` waits for the frames already queued. An exception from the inner
    write stops it: ``error`` says why, and later frames count as dropped."""

    def __init__(self, sink: Sink, queue_frames: int = THREAD_QUEUE_FRAMES):
        if queue_frames < 1:
            raise UserError(f"queue_frames {queue_frames} must be at least 1")
        self.sink = sink
        self.name = sink.name
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=queue_frames)
        self._dropped_here = 0           # counted on the caller's thread
        self._dropped_after_error = 0    # counted on the worker's thread
        self._error: str | None = None
        self._closed = False
        self._summary: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"sink {self.name}", daemon=True)
        self._thread.start()

    @property
    def error(self) -> str | None:
        return self._error or self.sink.error

    @property
    def done(self) -> bool:
        return self.sink.done

    @property
    def frames_written(self) -> int:
        return self.sink.frames_written

    @property
    def frames_dropped(self) -> int:
        return self._dropped_here + self._dropped_after_error + self.sink.frames_dropped

    def accepts(self, now: float) -> int:
        return 0 if self._error is not None else self.sink.accepts(now)

    def write(self, pixels: np.ndarray) -> None:
        if self._closed:
            raise UserError(f"{self.name} is already closed")
        if self._error is not None:
            self._dropped_here += 1
            return
        try:
            self._queue.put_nowait(pixels)
        except queue.Full:
            self._dropped_here += 1

    def close(self) -> str:
        if not self._closed:
            self._closed = True
            self._queue.put(None)        # the worker always runs on, so there is room soon
            self._thread.join()
            self._summary = self.sink.close()
        return self._summary

    def _run(self) -> None:
        while (pixels := self._queue.get()) is not None:
            if self._error is not None:
                self._dropped_after_error += 1
                continue
            try:
                self.sink.write(pixels)
            except Exception as e:      # noqa: BLE001 - any failure of the receiver ends only this sink
                self._error = f"{self.name} stopped: {e}"
                self._dropped_after_error += 1
