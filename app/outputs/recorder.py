"""Writes output frames to a video file (H.264 in MP4, MOV or MKV; or a GIF) that stays playable
however the recording ends."""

import errno
import os
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from app.errors import UserError
from app.outputs.files import StagedFile, create_new

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
# The container of each file name ending the recorder writes.
CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".gif": "gif"}
SUPPORTED = ".mp4, .mkv, .mov or .gif"
# Each frame written out as soon as it is complete: a file cut off at any byte still holds every
# finished frame, and players read those without a trailer. MP4 and MOV: one fragment per frame.
# Matroska: one cluster per frame (a cluster is written when the next one starts; the segment's
# unknown size until the end is what live streams have, and players take it). GIF: a frame is a
# block of its own, written when the next one comes (the muxer sets each frame's delay from the
# next); GIF loops forever and holds frame times to 1/100 s.
FRAGMENTED = {"movflags": "frag_every_frame+empty_moov+default_base_moof", "flush_packets": "1"}
MUX_OPTIONS = {"mp4": FRAGMENTED, "mov": FRAGMENTED,
               "matroska": {"cluster_size_limit": "1", "cluster_time_limit": "0", "flush_packets": "1"},
               "gif": {"flush_packets": "1"}}
# With a sound track, MP4 and MOV cut a fragment as each frame comes instead (frag_every_frame
# mistimes the frames of a file with two tracks), and write the moov with the first fragment, when
# the AAC encoder's priming is known, so that its edit list keeps the sound in step with the frames.
SOUND_FRAGMENTED = {"movflags": "empty_moov+default_base_moof+delay_moov", "flush_packets": "1"}
AAC_BITS_PER_CHANNEL = 96_000
AAC_BLOCK = 1024
# zerolatency: no B-frames or lookahead, so each frame leaves the encoder as soon as it goes in, and
# the threads (x264's automatic count: one per core) share the slices of each frame. At veryfast,
# 1080p60 takes about 1.6 cores' worth of x264 (docs/performance.md).
X264_TUNE = "zerolatency"
# The frames are converted to YUV with BT.601's matrix (see _yuv420); players assume BT.709 for
# HD sizes unless the stream says otherwise.
X264_PARAMS = "colormatrix=smpte170m"
# Data reaches the OS after every frame; fsync bounds what a power cut can take to this long.
FSYNC_INTERVAL_S = 1.0
PUT_POLL_S = 0.1


@dataclass(frozen=True)
class Soundtrack:
    """The sound of a recording: (channels, n) float32 samples, −1…1, mono or stereo, at ``rate`` Hz
    (one AAC takes; 32 kHz or more keeps the ends within 16 ms). Frame i carries the samples from
    i / fps to (i + 1) / fps seconds, silence past their end, so the sound lasts as long as the
    frames written, however the recording ends: AAC holds whole blocks of AAC_BLOCK samples, and
    the last block ends as near to the last frame's end as blocks can."""
    samples: np.ndarray
    rate: int


def container_format(path: str | Path) -> str:
    """The container of a recording named ``path`` (by its extension), or a UserError naming those written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CONTAINERS:
        return CONTAINERS[suffix]
    what = "has no extension" if not suffix else f"ends in {path.suffix}, which is not a format recordings are written in"
    raise UserError(f"cannot record to '{path.name}': the name {what}; end it in {SUPPORTED}")


class VideoRecorder:
    """Encodes (height, width, 3) uint8 RGB frames to a video file on a worker thread: H.264 in MP4,
    MOV or MKV, or a GIF (a palette of 256 colours per frame), chosen by the file name's extension.

    live=False (fixed-step recording): write() waits for room in the queue, so no frame is lost.
    live=True: write() never waits; a frame that does not fit in the queue is dropped and counted.
    Frame i is shown at i / fps seconds, whatever the wall clock did.

    The file is never one that existed: by default a name that is taken is refused; ``unique``
    takes the first free of name, name-2, name-3, … instead (``path`` then says which);
    ``staged`` writes to ``NAME.part`` beside the name, locked against other recordings, and moves
    it to the name at close (``overwrite`` lets it replace a file of that name). A recording that
    ends without a frame in it leaves no file at all; ``saved_path`` is None then.

    H.264 4:2:0 needs even sizes, so an odd width or height is padded by repeating the last
    column or row; the file is then one pixel wider or taller than the frames.

    frames_written counts frames whose bytes are in the file: the muxer holds the newest frame
    until the next one arrives, so while recording it trails the frames encoded by one.

    ``soundtrack`` (MP4, MOV, MKV) adds an AAC track, encoded with the frames and interleaved with
    them in the file; frames_written then trails by one or two more, the muxer holding frames until
    the sound (which the encoder hands on a block late) has caught up with them.
    A write failure (disk full, ...) ends the recording, keeps the frames already in the file
    and sets `error`. In fixed-step mode write() then raises it as a UserError, and so does
    close() if write() has not.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 30.0, *,
                 live: bool = False, queue_frames: int = 8, crf: int = 18, preset: str = "veryfast",
                 threads: int = 0, unique: bool = False, staged: bool = False, overwrite: bool = False,
                 soundtrack: Soundtrack | None = None):
        self.path = Path(path)
        self.live = live
        self.frames_written = 0
        self.frames_dropped = 0
        self.error: str | None = None
        self.saved_path: Path | None = None      # where the file is after close; None: no frame, no file
        self._format = container_format(self.path)
        _check_settings(width, height, fps, queue_frames, crf, preset, threads)
        if soundtrack is not None and self._format == "gif":
            raise UserError(f"cannot record sound into '{self.path.name}': a GIF holds none; end it in .mp4, .mov "
                            f"or .mkv")
        self._soundtrack = soundtrack
        self._size = (height, width)
        self._pad = (0, 0) if self._format == "gif" else (height % 2, width % 2)
        self._staged: StagedFile | None = None
        if staged:
            self._staged = _stage(self.path, overwrite)
            self._writing, self._file = self._staged.part, self._staged.file
        else:
            self.path, self._file = _create(self.path, unique)
            self._writing = self.path
        self._finished = False
        try:
            self._container = av.open(self._file, "w", format=self._format, options=self._mux_options(fps))
            self._stream = self._add_video_stream(width + self._pad[1], height + self._pad[0], fps, crf, preset,
                                                  threads)
            self._sound = self._add_sound_stream(soundtrack) if soundtrack is not None else None
            self._sound_sent = 0
            self._sound_muxed = Fraction(0)         # seconds of sound handed to the muxer
        except BaseException:
            self._finish_file()
            raise
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=queue_frames)
        self._packets_muxed = 0
        self._bytes_kept = 0
        self._last_fsync = float("-inf")  # the first fragment is synced at once
        self._end_queued = False
        self._error_raised = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recorder {self.path.name}", daemon=True)
        self._thread.start()

    def write(self, frame: np.ndarray) -> bool:
        if self._end_queued:
            raise UserError(f"recording {self.path} is already closed: start a new recording")
        if frame.shape != (*self._size, 3) or frame.dtype != np.uint8:
            shape = "x".join(map(str, frame.shape))
            raise UserError(f"frame is {shape} {frame.dtype} but recording {self.path.name} takes {self._size[0]}x"
                            f"{self._size[1]}x3 uint8 RGB: keep the output size fixed while recording")
        if self.error is not None:
            if not self.live:
                self._error_raised = True
                raise UserError(self.error)
            self.frames_dropped += 1
            return False
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        else:
            frame = frame.copy()  # the caller may reuse its buffer before the encoder gets to it
        if self.live:
            try:
                self._queue.put_nowait(frame)
                return True
            except queue.Full:
                self.frames_dropped += 1
                return False
        if not self._put(frame):
            self._error_raised = True
            raise UserError(self.error)
        return True

    def close(self) -> None:
        """Ends the recording: every queued frame encoded, the file finished and moved to its name
        (``saved_path``), or removed if no frame reached it."""
        if not self._end_queued:
            self._put(None)
            self._end_queued = True
        self._thread.join()
        self._finish_file()
        if self.error is not None and not self.live and not self._error_raised:
            self._error_raised = True
            raise UserError(self.error)

    def __enter__(self) -> "VideoRecorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._error_raised = True  # already unwinding: leave the reason in `error` rather than mask exc
        self.close()

    def _mux_options(self, fps: float) -> dict:
        if self._soundtrack is None or self._format not in ("mp4", "mov"):
            return MUX_OPTIONS[self._format]
        # a fragment is cut at the first packet at least this long after the fragment's start
        return {**SOUND_FRAGMENTED, "frag_duration": str(max(1, int(900_000 / fps)))}

    def _add_sound_stream(self, soundtrack: Soundtrack):
        channels = soundtrack.samples.shape[0]
        if soundtrack.samples.ndim != 2 or channels not in (1, 2):
            raise UserError(f"a recording's sound is mono or stereo, got {channels} channels")
        stream = self._container.add_stream("aac", rate=soundtrack.rate)
        stream.layout = "mono" if channels == 1 else "stereo"
        stream.format = "fltp"
        stream.bit_rate = AAC_BITS_PER_CHANNEL * channels
        return stream

    def _add_video_stream(self, width: int, height: int, fps: float, crf: int, preset: str, threads: int):
        rate = Fraction(fps).limit_denominator(1001)
        if self._format == "gif":
            stream = self._container.add_stream("gif", rate=rate)
            stream.codec_context.time_base = 1 / rate
            stream.width, stream.height, stream.pix_fmt = width, height, "pal8"
            return stream
        stream = self._container.add_stream("libx264", rate=rate)
        stream.codec_context.time_base = 1 / rate
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = threads
        stream.options = {"tune": X264_TUNE, "preset": preset, "crf": str(crf), "x264-params": X264_PARAMS}
        return stream

    def _put(self, item: np.ndarray | None) -> bool:
        """Waits for room in the queue; False if the encoder thread has stopped."""
        while not self._done.is_set():
            try:
                self._queue.put(item, timeout=PUT_POLL_S)
                return True
            except queue.Full:
                pass
        return False

    def _run(self) -> None:
        try:
            index = 0
            while (frame := self._queue.get()) is not None:
                if self._format == "gif":
                    video_frame = av.VideoFrame.from_ndarray(_pal8(frame), format="pal8")
                else:
                    video_frame = av.VideoFrame.from_ndarray(_yuv420(frame), format="yuv420p")
                video_frame.pts = index
                video_frame.time_base = self._stream.codec_context.time_base
                self._mux(self._stream.encode(video_frame))
                index += 1
                self._send_sound(index)
            self._mux(self._stream.encode(None))
            if self._sound is not None:
                self._send_sound(index, last=True)
                self._mux(self._sound.encode(None), video=False)
            self._container.close()
            self._file.flush()
            if self._packets_muxed:
                os.fsync(self._file.fileno())
            self.frames_written = self._packets_muxed
        except Exception as exc:
            self.error = self._describe(exc)
            self._abandon()
            if not isinstance(exc, (OSError, av.FFmpegError)):
                raise  # a bug, not a write failure: let the thread print its traceback
        finally:
            self._done.set()

    def _send_sound(self, frames: int, last: bool = False) -> None:
        """The soundtrack from where it was sent up to the end of frame ``frames`` − 1, in whole AAC
        blocks: the blocks that fit while recording, and at the ``last`` up to the block end nearest
        the frames' end."""
        if self._sound is None:
            return
        samples, rate = self._soundtrack.samples, self._soundtrack.rate
        end = frames * self._stream.codec_context.time_base * rate        # time_base: seconds per frame
        end = (round(end / AAC_BLOCK) if last else int(end // AAC_BLOCK)) * AAC_BLOCK
        start = self._sound_sent
        if end <= start:
            return
        chunk = np.zeros((samples.shape[0], end - start), np.float32)
        have = samples[:, start:end]
        chunk[:, :have.shape[1]] = have
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._sound.layout.name)
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        self._sound_sent = end
        self._mux(self._sound.encode(frame), video=False)

    def _mux(self, packets: list[av.Packet], video: bool = True) -> None:
        for packet in packets:
            if not video and packet.pts is not None:
                self._sound_muxed = max(self._sound_muxed, packet.pts * packet.time_base)
            self._container.mux(packet)
            self._file.flush()
            if video:
                self._packets_muxed += 1
            self.frames_written = self._frames_in_file()
            self._bytes_kept = self._file.tell()
            if time.monotonic() - self._last_fsync >= FSYNC_INTERVAL_S:
                os.fsync(self._file.fileno())
                self._last_fsync = time.monotonic()

    def _frames_in_file(self) -> int:
        """The muxer holds the newest frame until the next one; with sound, it holds the frames until
        sound starting after them has come."""
        muxed = self._packets_muxed
        if self._sound is not None:
            muxed = min(muxed, int(self._sound_muxed / self._stream.codec_context.time_base))
        return max(0, muxed - 1)

    def _abandon(self) -> None:
        """After a failed write: close the muxer, then cut the file back to its last whole frame."""
        try:
            self._container.close()
        except Exception:
            pass  # the trailer cannot be written either; the truncation below makes it moot
        try:
            os.ftruncate(self._file.fileno(), self._bytes_kept)
        except (OSError, ValueError):
            pass  # the tail is a partial fragment, which players skip

    def _finish_file(self) -> None:
        """Once, on the caller's thread after the encoder's: the file kept under its name (moved
        there from its .part) if a frame reached it, else removed; then closed."""
        if self._finished:
            return
        self._finished = True
        try:
            if self.frames_written == 0:
                self._writing.unlink(missing_ok=True)
            elif self._staged is not None:
                self.saved_path = self._staged.finish()
            else:
                self.saved_path = self.path
        except OSError as exc:
            self.saved_path = self._writing if self._writing.exists() else None
            if self.error is None:
                self.error = f"recording {self.path} could not be moved into place ({exc.strerror}): " \
                             f"its {self.frames_written} frames are in {self._writing}"
        finally:
            try:
                self._file.close()
            except OSError:
                pass  # the data that would not fit: already cut off

    def _describe(self, exc: Exception) -> str:
        kept = f"kept {self.frames_written} frames" if self.frames_written else "no frame fit, so no file is left"
        if getattr(exc, "errno", None) == errno.ENOSPC:
            return f"disk full while recording {self.path}: {kept}; free some space and record again"
        reason = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
        return f"recording {self.path} stopped ({reason}): {kept}"


def _yuv420(rgb: np.ndarray) -> np.ndarray:
    """RGB → planar YUV 4:2:0 (BT.601, limited range: what swscale would do when encoding an rgb24
    frame), several times faster than swscale: 0.5 ms instead of 3.5 ms at 1080p on a 2-core CPU."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


def _pal8(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RGB → 256 colours of its own (octree, no dither: 2 ms at 256² on a 2-core CPU) and the
    index of each pixel, as PyAV's pal8 frames take them (palette in ARGB)."""
    from PIL import Image   # Pillow comes with matplotlib; only GIFs need it
    quantized = Image.fromarray(rgb).quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    colours = np.asarray(quantized.getpalette(), np.uint8).reshape(-1, 3)[:256]
    palette = np.zeros((256, 4), np.uint8)
    palette[:, 0] = 255
    palette[:len(colours), 1:] = colours
    return np.ascontiguousarray(np.asarray(quantized, np.uint8)), palette


def _check_settings(width: int, height: int, fps: float, queue_frames: int, crf: int, preset: str,
                    threads: int) -> None:
    if width < 2 or height < 2:
        raise UserError(f"video size {width}x{height} is too small: use at least 2x2")
    if not fps > 0:
        raise UserError(f"frame rate {fps} is not positive: use e.g. 30")
    if queue_frames < 1:
        raise UserError(f"queue_frames {queue_frames} must be at least 1")
    if not 0 <= crf <= 51:
        raise UserError(f"crf {crf} is outside 0..51: use 18 for near-lossless, 23 for smaller files")
    if preset not in X264_PRESETS:
        raise UserError(f"unknown x264 preset '{preset}': use one of {', '.join(X264_PRESETS)}")
    if threads < 0:
        raise UserError(f"threads {threads} is negative: use 0 for automatic")


def _create(path: Path, unique: bool):
    """A new file at ``path`` (or, ``unique``, at the first free numbered name beside it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    try:
        return create_new(path, numbered=unique)
    except FileExistsError:
        raise UserError(f"'{path}' already exists: recordings never replace a file; choose another name") from None
    except OSError as exc:
        raise _cannot_write(path, exc) from exc


def _stage(path: Path, overwrite: bool) -> StagedFile:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return StagedFile(path, overwrite=overwrite)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc


def _cannot_write(path: Path, exc: OSError) -> UserError:
    if exc.errno == errno.ENOSPC:
        return UserError(f"disk full: cannot create '{path}'; free some space and record again")
    return UserError(f"cannot write video '{path}': {exc.strerror}; choose a writable folder")
