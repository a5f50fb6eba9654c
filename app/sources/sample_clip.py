"""Build the project's sample video from the bundled training photos.

A virtual camera pans, zooms and slightly turns over one photo at a time, cross-fading
between scenes, while soft-edged discs cut from other photos and a couple of solid
shapes drift across on smooth paths, occluding one another. Every motion is periodic in
the clip's length, so the clip loops without a jump.

    python -m app.sources.sample_clip [--out assets/sample.mp4]

The sprites' paths repeat once per clip, so a clip's length sets how fast they move: a held-out
clip compares with a training clip when both have the same length and frame rate
(``ClipSettings``).
"""

import argparse
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from tqdm import tqdm

from app.resources import ASSET_DIR
from app.errors import UserError
from app.sources.fit import fit_square
from app.sources.photos import training_photos

MAX_FILE_BYTES = 3_000_000
CRF_LADDER = (18, 21, 24, 27, 30, 33)  # tried in order until the file fits MAX_FILE_BYTES
SCENE_SECONDS = 3.0
FADE_SECONDS = 1.0
SUPERSAMPLE = 2  # render at twice the size, then area-downsample: smooth edges, no shimmer when panning
MAX_CAMERA_TURN = math.radians(4)
PATCH_COUNT = 3
PATCH_CANDIDATES = 8
SHADOW_OFFSET = (0.015, 0.025)  # fraction of the frame, towards bottom right
SHADOW_STRENGTH = 0.35


@dataclass(frozen=True)
class ClipSettings:
    """How a clip is rendered: the arguments of this module's command line."""

    size: int = 256
    seconds: float = 24.0
    fps: int = 30
    seed: int = 0

    @property
    def frame_count(self) -> int:
        return round(self.seconds * self.fps)

    def renderer(self, seed: int | None = None) -> "ClipRenderer":
        """The renderer of this clip, or of one as long and as fast with another seed."""
        return ClipRenderer(self.size, self.frame_count, self.fps, self.seed if seed is None else seed)


# what the shipped PVMs learned from (their cards: `--out runs/pvm-train.mp4 --size 80 --seconds 180 --seed 2`)
PVM_TRAINING_CLIP = ClipSettings(size=80, seconds=180.0, fps=30, seed=2)


def render_frames(clip: ClipSettings, indices: Iterable[int], size: int, seed: int | None = None,
                  progress: bool = False) -> np.ndarray:
    """Frames ``indices`` (the clip loops) of ``clip``, or of a clip as long and as fast with ``seed``,
    fitted to size × size as a source fits them: (n, size, size, 3) uint8 RGB."""
    renderer = clip.renderer(seed)
    indices = list(indices)
    label = f"clip seed {clip.seed if seed is None else seed}"
    return np.stack([fit_square(renderer.frame(i % clip.frame_count), size)
                     for i in tqdm(indices, desc=label, disable=not progress, leave=False)])


@dataclass(frozen=True)
class View:
    """What the camera sees of a photo: a square of `side` pixels around a centre, turned by `angle`."""

    center_x: float
    center_y: float
    side: float
    angle: float


@dataclass(frozen=True)
class Scene:
    photo: np.ndarray  # float32 RGB in [0, 1], shortest side = canvas size
    start: View
    end: View


@dataclass(frozen=True)
class Sprite:
    """A premultiplied RGBA object with its blurred shadow, moving on a periodic path."""

    rgba: np.ndarray  # float32, premultiplied by alpha
    shadow: np.ndarray  # float32 alpha, same size as rgba
    path_x: tuple[tuple[float, int, float], ...]  # (amplitude, cycles per clip, phase) terms
    path_y: tuple[tuple[float, int, float], ...]
    turn_start: float
    turns_per_clip: int


def make_sample_clip(
    out: Path, size: int = 256, seconds: float = 24.0, fps: int = 30, seed: int = 0, progress: bool = True
) -> Path:
    """Render the sample clip and write it as H.264 MP4 to `out`, no larger than MAX_FILE_BYTES."""
    frame_count = round(seconds * fps)
    if size < 16 or size % 2 or frame_count < 1:
        raise UserError(f"cannot build a {size}px, {seconds} s clip; use an even size ≥ 16 and at least one frame")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    renderer = ClipRenderer(size, frame_count, fps, seed)
    for crf in CRF_LADDER:
        frames = (renderer.frame(index) for index in range(frame_count))
        if progress:
            frames = tqdm(frames, total=frame_count, desc=f"{out.name} (crf {crf})", unit="frame")
        _encode(frames, partial, size, fps, crf)
        if partial.stat().st_size <= MAX_FILE_BYTES:
            partial.replace(out)
            return out
    partial.unlink()
    raise UserError(
        f"the sample clip exceeds {MAX_FILE_BYTES / 1e6:g} MB even at crf {CRF_LADDER[-1]}; use a smaller --size or --seconds"
    )


class ClipRenderer:
    """Renders frame i of the clip, deterministically from the seed."""

    def __init__(self, size: int, frame_count: int, fps: int, seed: int):
        self._size = size
        self._canvas = size * SUPERSAMPLE
        self._fps = fps
        self._duration = frame_count / fps
        rng = np.random.default_rng(seed)
        photos = training_photos()
        names = sorted(photos)
        scaled = {name: _scale_shortest_side(photos[name], self._canvas) for name in names}
        scene_count = max(1, round(self._duration / SCENE_SECONDS))
        order = [names[i] for i in rng.permutation(len(names))]
        self._scenes = [
            _random_scene(scaled[order[i % len(order)]], zoom_in=i % 2 == 0, rng=rng) for i in range(scene_count)
        ]
        self._scene_step = self._duration / scene_count
        self._fade = min(FADE_SECONDS, self._scene_step / 3)
        patch_sources = rng.choice(names, PATCH_COUNT, replace=False)
        self._sprites = [_photo_patch(scaled[name], self._canvas, rng) for name in patch_sources]
        # Drawn in list order; the solid shapes sit between patches so each kind passes over and under the other.
        self._sprites.insert(1, _solid_shape(self._canvas, "square", rng))
        self._sprites.append(_solid_shape(self._canvas, "disc", rng))

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as (size, size, 3) uint8 RGB."""
        time = index / self._fps
        canvas = self._background(time)
        for sprite in self._sprites:
            self._draw_sprite(canvas, sprite, time)
        small = cv2.resize(canvas, (self._size, self._size), interpolation=cv2.INTER_AREA)
        return np.clip(small * 255 + 0.5, 0, 255).astype(np.uint8)

    def _background(self, time: float) -> np.ndarray:
        # Scene i is fully visible over [i·step, (i+1)·step − fade] and cross-fades into scene i+1 after that.
        slot = int(time // self._scene_step)
        current = slot % len(self._scenes)
        since_start = time - slot * self._scene_step
        image = self._camera_shot(current, since_start + self._fade)
        fade_progress = (since_start - (self._scene_step - self._fade)) / self._fade
        if fade_progress > 0:
            following = (current + 1) % len(self._scenes)
            incoming = self._camera_shot(following, since_start - self._scene_step + self._fade)
            image += (incoming - image) * _ease(fade_progress)
        return image

    def _camera_shot(self, scene_index: int, scene_time: float) -> np.ndarray:
        """The photo through the scene's camera, `scene_time` seconds after the scene starts fading in."""
        scene = self._scenes[scene_index]
        progress = _ease(scene_time / (self._scene_step + self._fade))
        start, end = scene.start, scene.end
        view = View(
            center_x=start.center_x + (end.center_x - start.center_x) * progress,
            center_y=start.center_y + (end.center_y - start.center_y) * progress,
            # Zoom geometrically so it feels steady rather than slowing down as it closes in.
            side=start.side * (end.side / start.side) ** progress,
            angle=start.angle + (end.angle - start.angle) * progress,
        )
        scale = view.side / self._canvas
        cos, sin = math.cos(view.angle) * scale, math.sin(view.angle) * scale
        middle = (self._canvas - 1) / 2
        canvas_to_photo = np.array(
            [
                [cos, -sin, view.center_x - cos * middle + sin * middle],
                [sin, cos, view.center_y - sin * middle - cos * middle],
            ]
        )
        return cv2.warpAffine(
            scene.photo,
            canvas_to_photo,
            (self._canvas, self._canvas),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )

    def sprite_centres(self, index: int) -> np.ndarray:
        """(sprites, 2): where each sprite's middle is at frame `index`, (x, y) as fractions of the frame."""
        return np.array([self._centre(sprite, index / self._fps) for sprite in self._sprites])

    def _centre(self, sprite: Sprite, time: float) -> tuple[float, float]:
        phase = 2 * math.pi * time / self._duration
        return (0.5 + sum(a * math.sin(k * phase + p) for a, k, p in sprite.path_x),
                0.5 + sum(a * math.sin(k * phase + p) for a, k, p in sprite.path_y))

    def _draw_sprite(self, canvas: np.ndarray, sprite: Sprite, time: float) -> None:
        phase = 2 * math.pi * time / self._duration
        fraction_x, fraction_y = self._centre(sprite, time)
        center_x, center_y = self._canvas * fraction_x, self._canvas * fraction_y
        angle = sprite.turn_start + sprite.turns_per_clip * phase
        shadow_x = center_x + SHADOW_OFFSET[0] * self._canvas
        shadow_y = center_y + SHADOW_OFFSET[1] * self._canvas
        shadow = _place(canvas, sprite.shadow, shadow_x, shadow_y, angle)
        if shadow is not None:
            region, alpha = shadow
            region *= 1 - SHADOW_STRENGTH * alpha[..., None]
        placed = _place(canvas, sprite.rgba, center_x, center_y, angle)
        if placed is not None:
            region, rgba = placed
            region *= 1 - rgba[..., 3:]
            region += rgba[..., :3]


def _place(
    canvas: np.ndarray, image: np.ndarray, center_x: float, center_y: float, angle: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Warp square `image` so its middle lands on (center_x, center_y), turned by `angle`.

    Returns the canvas region it covers (a view to draw into) and the warped image, or None if off-canvas.
    """
    reach = image.shape[0] / 2 * math.sqrt(2) + 1
    x0, x1 = max(int(center_x - reach), 0), min(int(center_x + reach) + 1, canvas.shape[1])
    y0, y1 = max(int(center_y - reach), 0), min(int(center_y + reach) + 1, canvas.shape[0])
    if x0 >= x1 or y0 >= y1:
        return None
    middle = (image.shape[0] - 1) / 2
    cos, sin = math.cos(angle), math.sin(angle)
    image_to_region = np.array(
        [
            [cos, -sin, center_x - x0 - cos * middle + sin * middle],
            [sin, cos, center_y - y0 - sin * middle - cos * middle],
        ]
    )
    warped = cv2.warpAffine(
        image, image_to_region, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return canvas[y0:y1, x0:x1], warped


def _ease(progress: float) -> float:
    progress = min(max(progress, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * progress)


def _scale_shortest_side(photo: np.ndarray, side: int) -> np.ndarray:
    scale = side / min(photo.shape[:2])
    height, width = round(photo.shape[0] * scale), round(photo.shape[1] * scale)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(photo, (width, height), interpolation=interpolation)
    return resized.astype(np.float32) / 255


def _random_scene(photo: np.ndarray, zoom_in: bool, rng: np.random.Generator) -> Scene:
    shortest = min(photo.shape[:2])
    wide = shortest * rng.uniform(0.75, 0.88)
    close = wide / rng.uniform(1.3, 1.6)
    sides = (wide, close) if zoom_in else (close, wide)
    return Scene(photo, *(_random_view(photo, side, rng) for side in sides))


def _random_view(photo: np.ndarray, side: float, rng: np.random.Generator) -> View:
    angle = rng.uniform(-MAX_CAMERA_TURN, MAX_CAMERA_TURN)
    extent = side * (abs(math.cos(angle)) + abs(math.sin(angle)))  # the turned square's bounding box
    height, width = photo.shape[:2]
    # Keep to the middle of the allowed range: photo edges (e.g. the retina's black border) are dull.
    slack_x, slack_y = max(width - extent, 0) / 2, max(height - extent, 0) / 2
    return View(
        center_x=width / 2 + rng.uniform(-0.8, 0.8) * slack_x,
        center_y=height / 2 + rng.uniform(-0.8, 0.8) * slack_y,
        side=side,
        angle=angle,
    )


def _random_path(rng: np.random.Generator) -> tuple[tuple[float, int, float], ...]:
    """A smooth closed path along one axis (fractions of the frame): a slow wide swing plus a quicker small one."""
    return (
        (rng.uniform(0.28, 0.42), int(rng.integers(1, 3)), rng.uniform(0, 2 * math.pi)),
        (rng.uniform(0.04, 0.1), int(rng.integers(2, 5)), rng.uniform(0, 2 * math.pi)),
    )


def _photo_patch(photo: np.ndarray, canvas: int, rng: np.random.Generator) -> Sprite:
    radius = canvas * rng.uniform(0.13, 0.19)
    diameter = int(math.ceil(radius * 2)) + 2
    candidates = []
    for _ in range(PATCH_CANDIDATES):
        top = rng.integers(0, photo.shape[0] - diameter + 1)
        left = rng.integers(0, photo.shape[1] - diameter + 1)
        candidates.append(photo[top : top + diameter, left : left + diameter])
    # The busiest candidate: a patch of plain sky or black space would not read as an object.
    texture = max(candidates, key=lambda candidate: float(candidate.std()))
    distance = _distance_from_middle(diameter)
    alpha = np.clip((radius - distance) / (0.12 * radius), 0, 1)
    return _sprite(texture, alpha, rng, turns_per_clip=int(rng.choice([-1, 1])))


def _solid_shape(canvas: int, kind: str, rng: np.random.Generator) -> Sprite:
    half = canvas * rng.uniform(0.07, 0.1)
    diameter = int(math.ceil(half * 2 * math.sqrt(2))) + 2
    if kind == "disc":
        signed_distance = _distance_from_middle(diameter) - half
    else:
        middle = (diameter - 1) / 2
        ys, xs = np.mgrid[0:diameter, 0:diameter].astype(np.float32) - middle
        corner = 0.2 * half
        qx, qy = np.abs(xs) - (half - corner), np.abs(ys) - (half - corner)
        signed_distance = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - corner
    alpha = np.clip(0.5 - signed_distance, 0, 1)
    hue = rng.uniform(0, 360)
    color_hsv = np.array([[[hue, 0.8, 0.95]]], np.float32)
    color = cv2.cvtColor(color_hsv, cv2.COLOR_HSV2RGB)[0, 0]
    texture = np.broadcast_to(color, (diameter, diameter, 3))
    return _sprite(texture, alpha, rng, turns_per_clip=int(rng.choice([-2, -1, 1, 2])) if kind == "square" else 0)


def _sprite(texture: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, turns_per_clip: int) -> Sprite:
    alpha = alpha.astype(np.float32)
    rgba = np.dstack([texture * alpha[..., None], alpha]).astype(np.float32)
    blur = max(alpha.shape[0] / 12, 1.0)
    shadow = cv2.GaussianBlur(alpha, (0, 0), blur)
    return Sprite(
        rgba=rgba,
        shadow=shadow,
        path_x=_random_path(rng),
        path_y=_random_path(rng),
        turn_start=rng.uniform(0, 2 * math.pi),
        turns_per_clip=turns_per_clip,
    )


def _distance_from_middle(diameter: int) -> np.ndarray:
    middle = (diameter - 1) / 2
    ys, xs = np.mgrid[0:diameter, 0:diameter].astype(np.float32) - middle
    return np.hypot(xs, ys)


def _encode(frames: Iterable[np.ndarray], path: Path, size: int, fps: int, crf: int) -> None:
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "slow"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the sample clip from the bundled training photos.")
    parser.add_argument("--out", type=Path, default=ASSET_DIR / "sample.mp4", help="where to write the MP4")
    parser.add_argument("--size", type=int, default=256, help="frame width and height in pixels")
    parser.add_argument("--seconds", type=float, default=24.0, help="clip length")
    parser.add_argument("--fps", type=int, default=30, help="frames per second")
    parser.add_argument("--seed", type=int, default=0, help="random seed for scenes and paths")
    args = parser.parse_args(argv)
    try:
        out = make_sample_clip(args.out, args.size, args.seconds, args.fps, args.seed)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
