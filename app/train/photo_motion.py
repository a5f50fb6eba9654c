"""A film made of still photos: slow pans and zooms over one photo at a time, cross-fading into the
next (a Ken Burns film).

Frame i depends only on the photos, the frame size and the seed, so a film is as long as asked and
any frame is drawn without the ones before it. Each pass of the film shows every photo once, in an
order drawn from the seed; the next pass shows them again in a new order, from new views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SCENE_FRAMES = 150          # 5 s a photo at 30 fps, the cross-fade into the next included
FADE_FRAMES = 20
WIDEST_VIEW = (0.8, 1.0)    # the wide view's share of the largest view that fits the photo
ZOOM = (1.1, 1.3)           # the wide view's side over the close one's
PAN = 0.2                   # how far the view's centre may travel in a scene, in view sides
SUPERSAMPLE = 2             # drawn at twice the size and area-averaged down: no shimmer while panning


@dataclass(frozen=True)
class View:
    """A rectangle of the photo with the frame's aspect: its centre and height, in photo pixels."""

    center_x: float
    center_y: float
    height: float


@dataclass(frozen=True)
class Scene:
    photo: str
    start: View
    end: View


class PhotoFilm:
    """Frames of ``width`` × ``height`` (uint8 RGB) panning and zooming over ``photos`` (name → (H, W, 3)
    uint8 RGB): ``scene_frames`` frames a photo, the last ``fade_frames`` of them cross-fading into the
    next photo."""

    def __init__(self, photos: dict[str, np.ndarray], width: int, height: int, seed: int = 0,
                 scene_frames: int = SCENE_FRAMES, fade_frames: int = FADE_FRAMES):
        if not photos or width < 1 or height < 1 or not 0 <= fade_frames < scene_frames:
            raise ValueError(f"a photo film needs photos ({len(photos)}), a frame size ({width}×{height}) and a "
                             f"fade ({fade_frames} frames) shorter than a scene ({scene_frames} frames)")
        self.names = sorted(photos)
        self.photos = photos
        self.width, self.height = width, height
        self.seed = seed
        self.scene_frames, self.fade_frames = scene_frames, fade_frames
        self._pyramids: dict[str, list[np.ndarray]] = {}
        self._passes: dict[int, list[Scene]] = {}

    @property
    def pass_frames(self) -> int:
        """Frames in one pass, which shows every photo once."""
        return len(self.names) * self.scene_frames

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (≥ 0) as (height, width, 3) uint8 RGB."""
        number, offset = divmod(index, self.scene_frames)
        image = self._shot(number, offset + self.fade_frames)
        fading = offset - (self.scene_frames - self.fade_frames)
        if fading >= 0:
            incoming = self._shot(number + 1, fading)
            weight = _ease((fading + 1) / (self.fade_frames + 1))
            image = image + (incoming - image) * weight
        return np.clip(image + 0.5, 0, 255).astype(np.uint8)

    def _shot(self, number: int, elapsed: int) -> np.ndarray:
        """Scene ``number`` seen ``elapsed`` frames after it starts fading in, as float32."""
        scene = self._scene(number)
        progress = elapsed / (self.scene_frames + self.fade_frames)
        start, end = scene.start, scene.end
        view = View(center_x=start.center_x + (end.center_x - start.center_x) * progress,
                    center_y=start.center_y + (end.center_y - start.center_y) * progress,
                    # geometric, so that the zoom keeps one pace instead of slowing as it closes in
                    height=start.height * (end.height / start.height) ** progress)
        return self._draw(scene.photo, view)

    def _draw(self, name: str, view: View) -> np.ndarray:
        pyramid = self._pyramid(name)
        out_w, out_h = self.width * SUPERSAMPLE, self.height * SUPERSAMPLE
        pixel = view.height / out_h                     # photo pixels per drawn pixel
        level = min(len(pyramid) - 1, max(0, int(math.floor(math.log2(max(pixel, 1.0))))))
        image = pyramid[level]
        base_h, base_w = pyramid[0].shape[:2]
        fx, fy = image.shape[1] / base_w, image.shape[0] / base_h
        left = view.center_x - view.height * self.width / self.height / 2
        top = view.center_y - view.height / 2
        # maps a drawn pixel's index to the level's pixel coordinates, pixel centres on both sides
        drawn_to_level = np.array([[pixel * fx, 0.0, (left + 0.5 * pixel) * fx - 0.5],
                                   [0.0, pixel * fy, (top + 0.5 * pixel) * fy - 0.5]])
        drawn = cv2.warpAffine(image, drawn_to_level, (out_w, out_h),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101)
        small = cv2.resize(drawn, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return small.astype(np.float32)

    def _pyramid(self, name: str) -> list[np.ndarray]:
        """The photo and its successive halvings, made the first time the photo is drawn."""
        if name not in self._pyramids:
            levels = [np.ascontiguousarray(self.photos[name])]
            while min(levels[-1].shape[:2]) >= 4:
                h, w = levels[-1].shape[:2]
                levels.append(cv2.resize(levels[-1], (w // 2, h // 2), interpolation=cv2.INTER_AREA))
            self._pyramids[name] = levels
        return self._pyramids[name]

    def _scene(self, number: int) -> Scene:
        film_pass, position = divmod(number, len(self.names))
        return self._pass(film_pass)[position]

    def _pass(self, film_pass: int) -> list[Scene]:
        if film_pass not in self._passes:
            rng = np.random.default_rng([self.seed % 2**64, film_pass])
            order = [self.names[i] for i in rng.permutation(len(self.names))]
            self._passes[film_pass] = [self._random_scene(name, zoom_in=bool(rng.integers(2)), rng=rng)
                                       for name in order]
        return self._passes[film_pass]

    def _random_scene(self, name: str, zoom_in: bool, rng: np.random.Generator) -> Scene:
        photo_h, photo_w = self.photos[name].shape[:2]
        aspect = self.width / self.height
        largest = min(photo_h, photo_w / aspect)
        wide = largest * rng.uniform(*WIDEST_VIEW)
        # No closer than a photo pixel a frame pixel while the zoom can keep that: magnified views are soft.
        close = max(wide / rng.uniform(*ZOOM), min(self.height, wide / ZOOM[0]))
        first, last = (wide, close) if zoom_in else (close, wide)
        start = _random_view(photo_w, photo_h, aspect, first, rng)
        angle = rng.uniform(0, 2 * math.pi)
        travel = PAN * min(first, last) * rng.uniform(0.3, 1.0)
        end = _fitted(photo_w, photo_h, aspect, last, start.center_x + travel * math.cos(angle),
                      start.center_y + travel * math.sin(angle))
        return Scene(name, start, end)


def _random_view(photo_w: int, photo_h: int, aspect: float, height: float, rng: np.random.Generator) -> View:
    # Near the middle: a photo's subject seldom sits at its edge, and views of its margins are dull.
    slack_x, slack_y = (photo_w - height * aspect) / 2, (photo_h - height) / 2
    return View(center_x=photo_w / 2 + rng.uniform(-0.7, 0.7) * slack_x,
                center_y=photo_h / 2 + rng.uniform(-0.7, 0.7) * slack_y, height=height)


def _fitted(photo_w: int, photo_h: int, aspect: float, height: float, center_x: float, center_y: float) -> View:
    """The view of ``height`` nearest to the given centre that lies inside the photo."""
    half_w, half_h = height * aspect / 2, height / 2
    return View(center_x=min(max(center_x, half_w), photo_w - half_w),
                center_y=min(max(center_y, half_h), photo_h - half_h), height=height)


def _ease(progress: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(progress, 0.0), 1.0))
