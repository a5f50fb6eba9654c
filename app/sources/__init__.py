"""Frame sources: webcam, video files, still images, the sample clip and procedural patterns.

Every source returns frames already fitted to the model's square input, as
(size, size, 3) uint8 RGB, C-contiguous.
"""

from pathlib import Path
from app.errors import UserError
from app.resources import ASSET_DIR
from app.sources.base import Source
from app.sources.fallback import FallbackSource
from app.sources.image import ImageSource
from app.sources.procedural import NoiseSource, ShapesSource
from app.sources.video import STDIN, VideoFileSource, is_stream
from app.sources.webcam import WebcamSource

SAMPLE_CLIP = ASSET_DIR / "sample.mp4"
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".jp2"}
)


def open_source(spec: str, size: int, *, realtime: bool = False) -> Source:
    """Open the source named by `spec`: "webcam", "webcam:N", "sample", "noise", "shapes",
    "-" (a video stream on stdin), or a path to a video file, a named pipe or a still image.

    realtime=True plays video files at their own frame rate by wall clock; realtime=False
    returns the next frame on every read (for recording). Streams (stdin, pipes) play once, in a
    container (see VideoFileSource).
    """
    if size < 1:
        raise UserError(f"source size must be a positive number of pixels, got {size}")
    if spec == "webcam" or spec.startswith("webcam:"):
        index = _webcam_index(spec)
        return FallbackSource(lambda: WebcamSource(index, size), lambda: _open_stand_in(size, realtime))
    if spec == "sample":
        return _open_sample_clip(size, realtime)
    if spec == "noise":
        return NoiseSource(size)
    if spec == "shapes":
        return ShapesSource(size)
    if spec == STDIN:
        return VideoFileSource(STDIN, size, realtime=realtime)
    path = Path(spec).expanduser()
    if path.suffix.lower() in IMAGE_EXTENSIONS and not is_stream(path):
        return ImageSource(path, size)
    return VideoFileSource(path, size, realtime=realtime)


def source_file(spec: str) -> Path | None:
    """The file a source spec reads, if it reads one: a path, the sample clip, or whatever stdin is
    ("-"); None for the webcam and the procedural sources."""
    if spec == "sample":
        return SAMPLE_CLIP
    if spec in ("noise", "shapes") or spec == "webcam" or spec.startswith("webcam:"):
        return None
    if spec == STDIN:
        return Path("/dev/stdin") if Path("/dev/stdin").exists() else None
    return Path(spec).expanduser()


def _webcam_index(spec: str) -> int:
    _, _, number = spec.partition(":")
    if not number:
        return 0
    if not number.isdigit():
        raise UserError(f"bad source '{spec}': write webcam:N with N a camera index, e.g. webcam:1")
    return int(number)


def _open_sample_clip(size: int, realtime: bool) -> VideoFileSource:
    if not SAMPLE_CLIP.is_file():
        raise UserError(f"sample clip missing at '{SAMPLE_CLIP}'; rebuild it with: python -m app.sources.sample_clip")
    return VideoFileSource(SAMPLE_CLIP, size, realtime=realtime)


def _open_stand_in(size: int, realtime: bool) -> Source:
    """What plays when the webcam is unavailable: the sample clip, or moving shapes if that is missing too."""
    try:
        return _open_sample_clip(size, realtime)
    except UserError:
        return ShapesSource(size)


__all__ = [
    "SAMPLE_CLIP",
    "FallbackSource",
    "ImageSource",
    "NoiseSource",
    "ShapesSource",
    "Source",
    "VideoFileSource",
    "WebcamSource",
    "open_source",
    "source_file",
]
