"""A video file played in a loop, or a stream (stdin, a named pipe) played once; by wall clock or
one frame per read. Decoded with PyAV (libav): any container and codec it reads, seekable or not."""

import os
import queue
import stat
import threading
import time
from pathlib import Path

import av
import numpy as np

from app.errors import UserError
from app.sources.fit import fit_square

DEFAULT_FPS = 30.0
# After a long stall (window dragged, debugger) resume from where we were instead of decoding the gap.
MAX_CATCH_UP_FRAMES = 30
# Decoded ahead of the clock in realtime mode, and of the loop for a stream; a frame that is slow to
# decode (a keyframe, the loop back to the start, a writer that pauses) then never holds up the loop.
PREFETCH_FRAMES = 4
WAIT_POLL_S = 0.1
# The window (realtime) waits this long for a stream's first frame, then says so; ``record`` waits
# for its writer as long as it takes.
FIRST_FRAME_TIMEOUT_S = 10.0
STDIN = "-"
# A stream's parameters are read from its first quarter second (libav's default is 5 s of it): a
# pipe whose writer sends a few frames and waits starts at once.
STREAM_OPTIONS = {"analyzeduration": "250000"}
STREAM_FORMATS = "matroska/webm, mpegts, nut, y4m or fragmented MP4"


class _End:
    """What the decoder thread leaves in the queue when it stops: the reason, as a UserError."""

    def __init__(self, error: UserError):
        self.error = error


def is_stream(path: str | Path) -> bool:
    """stdin ('-'), a named pipe, a character device or a socket: read once, front to back."""
    if str(path) == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


class VideoFileSource:
    """Loops a video file forever, or plays a stream (stdin as '-', a named pipe) once.

    realtime=True follows the file's own frame rate by wall clock: read() returns None
    until the next frame is due and skips frames when the caller falls behind. A thread decodes a
    few frames ahead, so read() never waits for the decoder (if it falls behind, read() returns
    None and the last frame stays). A stream that ends, or a file that cannot be read any more,
    leaves its last frame and says why in ``message``.
    realtime=False returns the next frame on every read(), for deterministic recording; a stream
    that ends, or a file that cannot be read any more, raises a UserError saying how many frames
    it gave. A stream is decoded on a thread in this mode too, and read() waits for its writer in
    slices, in pure Python: a stop signal ends that wait at once (app.outputs.signals names
    ``_wait`` as a place where it may raise).

    A stream must be in a container libav recognises by its content (matroska, mpegts, nut, y4m,
    fragmented MP4, …): raw frames carry no size or pixel format, and are refused. Damaged or cut
    off data ends the pass there (a file then loops back to its start) and ``message`` says so;
    libav's own log lines never reach the terminal.
    """

    def __init__(self, path: Path | str, size: int, *, realtime: bool = False):
        self.streamed = is_stream(path)
        self.path = Path(path)
        self.name = "stdin" if str(path) == STDIN else self.path.name
        self.message = ""
        self._size = size
        self._realtime = realtime
        self._frames_read = 0           # frames the source has delivered from the file or stream
        self._frames_shown = 0
        self._clock_origin: float | None = None
        self._ended = False
        self._failure: str | None = None
        if not self.streamed:
            self._check_file()
        self._stop = threading.Event()
        self._threaded = realtime or self.streamed
        if self._threaded:
            self._decoded: queue.Queue = queue.Queue(maxsize=PREFETCH_FRAMES)
            self._decoder = threading.Thread(target=self._decode_ahead, name=f"{self.name} decoder", daemon=True)
            self._decoder.start()
            first = self._wait(FIRST_FRAME_TIMEOUT_S if realtime and self.streamed else None)  # or why there is none
            if first is None:
                self._stop.set()
                self._release_blocked_open()
                raise UserError(f"stream {self._label()} sent no frame in {FIRST_FRAME_TIMEOUT_S:.0f} s: start "
                                f"what writes it first")
            if isinstance(first, _End):
                self._stop.set()
                raise first.error
            self._pending: np.ndarray | None = first
        else:
            self._frames = self._decode_frames()
            self._pending = next(self._frames)

    @property
    def frame_count(self) -> int:
        """Frames in the file as its header states them (0 when it does not say, and for a stream)."""
        return self._frame_count

    def read(self) -> np.ndarray | None:
        if not self._realtime:
            frame = self._next_fixed_step()
            if frame is not None:
                self._frames_shown += 1
            return frame
        if self._ended:
            return None
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
            if self._pending is not None:
                item, self._pending = self._pending, None
            else:
                try:
                    item = self._decoded.get_nowait()
                except queue.Empty:
                    break
            if isinstance(item, _End):
                self._ended = True
                self.message = f"{item.error}; the last frame stays"
                break
            frame = item
            self._frames_shown += 1
        return frame

    def close(self) -> None:
        self._stop.set()
        if self._threaded:
            self._decoder.join(timeout=1.0)    # the decoder closes the container as it ends
        else:
            self._frames.close()

    # ---- fixed step ------------------------------------------------------------------------
    def _next_fixed_step(self) -> np.ndarray | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self._failure is not None:
            raise UserError(self._failure)
        if not self._threaded:
            try:
                return next(self._frames)
            except UserError as e:
                self._failure = str(e)
                raise
        item = self._wait()
        if isinstance(item, _End):
            self._failure = str(item.error)
            raise item.error
        return item

    def _wait(self, timeout: float | None = None):
        """The decoder thread's next item, however long the writer takes (None after ``timeout``
        seconds). Signals reach the main thread meanwhile, and a stop signal may raise here (see the
        class's doc)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            try:
                return self._decoded.get(timeout=WAIT_POLL_S)
            except queue.Empty:
                continue
        return None

    # ---- decoding --------------------------------------------------------------------------
    def _decode_ahead(self) -> None:
        try:
            for frame in self._decode_frames():
                while not self._stop.is_set():
                    try:
                        self._decoded.put(frame, timeout=WAIT_POLL_S)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except UserError as e:
            self._put_end(e)
        except Exception as e:           # noqa: BLE001 - libav's surprises end the source, in one line
            self._put_end(UserError(f"cannot read video '{self.path}': {_reason(e)}"))

    def _put_end(self, error: UserError) -> None:
        while not self._stop.is_set():
            try:
                self._decoded.put(_End(error), timeout=WAIT_POLL_S)
                return
            except queue.Full:
                continue

    def _decode_frames(self):
        """Every frame of the file, fitted, looping back at its end; of a stream, once. Raises a
        UserError where it cannot go on."""
        passes = 0
        while True:
            container = self._open()
            got = 0
            try:
                stream = container.streams.video[0]
                if passes == 0:
                    self._describe_stream(stream)
                for frame in self._decode_pass(container, stream):
                    got += 1
                    self._frames_read += 1
                    yield fit_square(frame.to_ndarray(format="rgb24"), self._size)
            finally:
                container.close()
            passes += 1
            if self.streamed:
                raise UserError(f"stream {self._label()} ended after {self._frames_read} frames (a stream plays once)")
            if got == 0:
                if passes == 1:
                    raise UserError(f"cannot read video '{self.path}': it has no frames to decode")
                raise UserError(f"cannot read video '{self.path}': decoding failed when looping back to the start")

    def _decode_pass(self, container, stream):
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as e:     # cut off or damaged: the pass ends here
                self._damaged(e)
                return
            try:
                frames = packet.decode()
            except av.FFmpegError as e:     # a damaged frame: skipped
                self._damaged(e)
                continue
            yield from frames

    def _damaged(self, error: Exception) -> None:
        where = f"after frame {self._frames_read}" if self.streamed else "in places"
        self.message = f"{self.name} is damaged or cut off {where} ({_reason(error)}): playing the frames that decode"

    def _describe_stream(self, stream) -> None:
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        self.fps = fps if 0 < fps < 1000 else DEFAULT_FPS
        self._frame_count = 0 if self.streamed else max(0, int(stream.frames or 0))

    def _open(self):
        target = "pipe:0" if str(self.path) == STDIN else str(self.path)
        try:
            container = av.open(target, "r", options=STREAM_OPTIONS if self.streamed else None)
        except FileNotFoundError:
            raise UserError(f"cannot read video '{self.path}': file not found") from None
        except PermissionError:
            raise UserError(f"cannot read video '{self.path}': permission denied") from None
        except (av.FFmpegError, OSError, ValueError) as e:
            if self.streamed:
                raise UserError(f"cannot read stream {self._label()}: not a container libav recognises "
                                f"({_reason(e)}); pipe {STREAM_FORMATS}, e.g. `ffmpeg -i IN -f matroska -`, "
                                f"not raw frames") from None
            raise UserError(f"cannot read video '{self.path}': not a video libav can decode ({_reason(e)})") from None
        if not container.streams.video:
            container.close()
            what = f"stream {self._label()}" if self.streamed else f"video '{self.path}'"
            raise UserError(f"cannot read {what}: it has no video stream")
        return container

    def _release_blocked_open(self) -> None:
        """A named pipe's open waits for a writer: a writer that comes and goes at once lets the
        decoder thread's open return (to an empty stream, so it ends) instead of taking the data of
        the next reader of that pipe."""
        if str(self.path) == STDIN:
            return
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass                         # no reader left waiting, or not a pipe
        self._decoder.join(timeout=1.0)

    def _check_file(self) -> None:
        if self.path.is_dir():
            raise UserError(f"cannot read video '{self.path}': it is a folder, not a file")
        if not self.path.exists():
            raise UserError(f"cannot read video '{self.path}': file not found")

    def _label(self) -> str:
        return "'-' (stdin)" if str(self.path) == STDIN else f"'{self.path}'"


def _reason(error: Exception) -> str:
    """libav's reason without its errno and function name: "Invalid data found when processing input"."""
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
