"""Training images: random crops (scale, horizontal flips, colour jitter) from a set of frames.

The frames come from the bundled photos of ``assets/photos/`` (two held out for validation), from a
video file or folder of images the user gives, from a webcam recording, from a film of slow pans,
zooms and cross-fades over every shipped photo (``photos``), from the sample clip (``sample``), or
from several of these at once (``photos+sample``). Anything that cannot be trained on fails here, as
one ``UserError`` line, before training starts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from app.errors import UserError
from app.sources import IMAGE_EXTENSIONS, SAMPLE_CLIP
from app.sources.fit import fit_square
from app.sources.photos import library_photos, training_photos, validation_photos
from app.train.distributed import ALONE, Team
from app.train.photo_motion import PhotoFilm

MAX_VIDEO_FRAMES = 300
MAX_FRAME_SIDE = 512        # frames are stored no larger than this, to bound memory
WEBCAM_FPS = 5              # recorded frames per second: neighbours a 30th of a second apart add little
VALIDATION_SIZE = 256
FILM_FRAMES = 300           # frames taken, evenly spaced, from one pass of the photo film
NAMED_DATA = ("photos", "sample")


@dataclass
class FrameSet:
    frames: list[np.ndarray]   # (H, W, 3) uint8 RGB
    description: str           # what the card records as the data


def bundled() -> FrameSet:
    photos = training_photos()
    return FrameSet(list(photos.values()), "bundled photos: " + ", ".join(photos))


def from_spec(spec: str, batch: int, seed: int = 0) -> FrameSet:
    """What ``--data`` names: a video, an image or a folder of images, ``photos``, ``sample``, or several
    of these joined by ``+`` (a path that exists is taken whole, ``+`` and all)."""
    if spec.strip() and spec not in NAMED_DATA and Path(spec).expanduser().exists():
        return from_path(spec, batch)
    parts = spec.split("+")
    if not all(part.strip() for part in parts):
        raise UserError(f"--data {spec!r}: a part is empty; name videos, images, folders, photos or sample, "
                        f"joined by + (e.g. photos+sample)")
    for part in parts:  # every path checked before any part is read: drawing the film takes a while
        if part not in NAMED_DATA and not Path(part).expanduser().exists():
            raise _no_such(part)
    sets = [_named(part, batch, seed) if part in NAMED_DATA else from_path(part, batch) for part in parts]
    if len(sets) == 1:
        return sets[0]
    return FrameSet([frame for frames in sets for frame in frames.frames],
                    " + ".join(frames.description for frames in sets))


def _named(name: str, batch: int, seed: int) -> FrameSet:
    if name == "photos":
        return photo_film(seed)
    if not SAMPLE_CLIP.is_file():
        raise UserError(f"--data sample: the sample clip is missing at {SAMPLE_CLIP}; rebuild it with: "
                        f"python -m app.sources.sample_clip")
    clip = _from_video(SAMPLE_CLIP, batch)
    return FrameSet(clip.frames, f"{len(clip.frames)} frames of the sample clip (assets/sample.mp4)")


def photo_film(seed: int = 0) -> FrameSet:
    """``FILM_FRAMES`` frames, evenly spaced, of one pass of a photo film over the library (every
    shipped photo but the validation ones, each seen from a few views)."""
    photos = library_photos()
    film = PhotoFilm(photos, MAX_FRAME_SIDE, MAX_FRAME_SIDE, seed)
    step = film.pass_frames / FILM_FRAMES
    drawn = [film.frame(int(i * step))
             for i in tqdm(range(FILM_FRAMES), desc="drawing the photo film", unit="frame", leave=False)]
    return FrameSet(drawn, f"{len(drawn)} frames of a film of slow pans, zooms and cross-fades (seed {seed}) over "
                           f"{len(photos)} photos of assets/photos and assets/wallpapers")


def from_path(spec: str, batch: int) -> FrameSet:
    """A folder of images, one image, or a video file."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise _no_such(spec)
    if path.is_dir():
        return _from_folder(path)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return FrameSet([_read_image(path)], f"image {path}")
    return _from_video(path, batch)


def _no_such(spec: str) -> UserError:
    return UserError(f"--data {spec}: no such file or folder; pass a video, an image, a folder of images, "
                     f"photos or sample (or several joined by +)")


def _from_folder(folder: Path) -> FrameSet:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise UserError(f"--data {folder}: the folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                        f"put photos in it or pass a video file")
    return FrameSet([_read_image(p) for p in tqdm(files, desc="reading images", unit="image", leave=False)],
                    f"{len(files)} images from {folder}")


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"--data: cannot read image {path} (not an image OpenCV can decode); remove it or "
                        f"convert it to PNG or JPEG")
    return _shrink(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def _from_video(path: Path, batch: int) -> FrameSet:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UserError(f"--data {path}: not a video OpenCV can decode (nor a folder or an image); pass a "
                        f"video, an image or a folder of images")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    stride = max(1, math.ceil(count / MAX_VIDEO_FRAMES)) if count > 0 else 1
    frames, index = [], 0
    with tqdm(total=count or None, desc=f"reading {path.name}", unit="frame", leave=False) as bar:
        while len(frames) < MAX_VIDEO_FRAMES and capture.grab():
            if index % stride == 0:
                ok, bgr = capture.retrieve()
                if ok:
                    frames.append(_shrink(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
            index += 1
            bar.update()
    capture.release()
    if len(frames) < batch:
        raise UserError(f"--data {path}: the video has {len(frames)} readable frames, fewer than one batch "
                        f"({batch}); use a longer video or a smaller --batch")
    return FrameSet(frames, f"{len(frames)} frames of video {path}")


def from_webcam(seconds: float, batch: int, index: int = 0) -> FrameSet:
    """Record ``seconds`` of the webcam (newest frame only, as the app sees it)."""
    from app.sources.webcam import WebcamSource

    try:
        camera = WebcamSource(index, MAX_FRAME_SIDE)
    except UserError:
        raise UserError(f"--webcam: no webcam at index {index} (OpenCV could not open it); connect one, or "
                        f"train on --data PATH or the bundled photos") from None
    frames = []
    try:
        start = time.monotonic()
        with tqdm(total=round(seconds), desc="recording webcam", unit="s") as bar:
            while (elapsed := time.monotonic() - start) < seconds:
                frame = camera.read()
                if frame is not None:
                    frames.append(frame)
                if camera.lost:
                    raise UserError(f"--webcam: {camera.message}; check the camera and try again")
                bar.n = min(round(elapsed), bar.total)
                bar.set_postfix(frames=len(frames))
                time.sleep(1 / WEBCAM_FPS)
    finally:
        camera.close()
    if len(frames) < batch:
        raise UserError(f"--webcam {seconds:g}: recorded {len(frames)} frames, fewer than one batch ({batch}); "
                        f"record longer or use a smaller --batch")
    return FrameSet(frames, f"{len(frames)} webcam frames ({seconds:g} s)")


def _shrink(image: np.ndarray) -> np.ndarray:
    side = max(image.shape[:2])
    if side <= MAX_FRAME_SIDE:
        return np.ascontiguousarray(image)
    scale = MAX_FRAME_SIDE / side
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class Crops:
    """Batches of random square crops, resized to ``size``, as (B, 3, size, size) floats in [0, 1].

    A crop's side is log-uniform between ``size`` (one pixel per pixel) and the frame's shorter side
    (the whole frame), so the model sees both texture and layout; frames smaller than ``size`` are
    scaled up. Large crops are cut from a pyramid of halved frames, so that no resize shrinks more
    than twofold (fast, and as sharp as a direct area resize).
    """

    def __init__(self, frames: FrameSet, size: int, seed: int = 0, jitter: float = 1.0):
        self.pyramids = [_pyramid(f, size) for f in frames.frames]
        self.size = size
        self.jitter = jitter
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int, team: Team = ALONE) -> torch.Tensor:
        """``n`` crops in all; of a team, this process's rows. Every process draws every crop's numbers
        (cheap) and cuts only its own (the cost)."""
        draws = [self._draw() for _ in range(n)]
        crops = [self._cut(*draws[i]) for i in team.part(n)]
        return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()

    def _draw(self) -> tuple:
        """A crop's random numbers: frame, side, corner, flip and jitter."""
        rng = self.rng
        which = rng.integers(len(self.pyramids))
        h, w = self.pyramids[which][0].shape[:2]
        shortest = min(h, w)
        low = min(self.size, shortest)
        side = math.exp(rng.uniform(math.log(low), math.log(shortest)))
        top, left = rng.uniform(0, h - side), rng.uniform(0, w - side)
        flip = rng.random() < 0.5
        jitter = 1 + self.jitter * rng.uniform(-0.2, 0.2, 3) if self.jitter else None
        return which, side, top, left, flip, jitter

    def _cut(self, which: int, side: float, top: float, left: float, flip: bool, jitter) -> np.ndarray:
        pyramid = self.pyramids[which]
        level = min(len(pyramid) - 1, max(0, int(math.log2(side / self.size))))
        frame, scale = pyramid[level], 2.0 ** -level
        side = min(max(1, round(side * scale)), *frame.shape[:2])
        top = min(round(top * scale), frame.shape[0] - side)
        left = min(round(left * scale), frame.shape[1] - side)
        crop = frame[top:top + side, left:left + side]
        interpolation = cv2.INTER_AREA if side > self.size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (self.size, self.size), interpolation=interpolation)
        if flip:
            crop = crop[:, ::-1]
        x = crop.astype(np.float32) / 255.0
        return x if jitter is None else _jitter(x, jitter)


def _jitter(x: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Brightness, contrast and saturation, each times its factor (up to ±20 %, scaled by ``jitter``)."""
    b, c, s = factors.astype(np.float32)
    gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = gray[..., None] + s * (x - gray[..., None])
    mean = gray.mean()
    x = (x - mean) * c + mean * b
    return np.clip(x, 0.0, 1.0, dtype=np.float32)


def _pyramid(frame: np.ndarray, size: int) -> list[np.ndarray]:
    """The frame and its successive halvings while the shorter side stays at least ``size``."""
    levels = [frame]
    while min(levels[-1].shape[:2]) >= 2 * size:
        h, w = levels[-1].shape[:2]
        levels.append(cv2.resize(levels[-1], (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    return levels


def validation_images(size: int = VALIDATION_SIZE) -> torch.Tensor:
    """The held-out photos, each whole (centre square) and as four native-resolution corner crops:
    (N, 3, size, size) in [0, 1]."""
    crops = []
    for photo in validation_photos().values():
        crops.append(fit_square(photo, size))
        h, w = photo.shape[:2]
        side = min(size, h, w)
        for top, left in ((0, 0), (0, w - side), (h - side, 0), (h - side, w - side)):
            crops.append(fit_square(photo[top:top + side, left:left + side], size))
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255.0).contiguous()


def validation_preview(size: int = VALIDATION_SIZE) -> torch.Tensor:
    """Each held-out photo whole and its first native-resolution corner crop, for picture grids."""
    images = validation_images(size)
    per_photo = len(images) // len(validation_photos())
    return torch.cat([images[i:i + 2] for i in range(0, len(images), per_photo)])
