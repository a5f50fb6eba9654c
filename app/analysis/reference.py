"""What dreams are judged beside: natural photos and frames of the sample clip, fitted to the
dream's size as a source fits them and measured as the dreams are (``app.analysis.looks``).

The photos are ``REFERENCE_PHOTOS``, the sample photos of scikit-image, scikit-learn and matplotlib
that the app bundles, named here so that photos added for training (brick walls, bridges, grass)
leave the limits alone. They set the limit on periodic artefacts at each size: their highest
periodic peak plus ``PERIODIC_MARGIN`` decades, which passes the photos' own lattices (the rocket's
gantry) and fails the faintest stripes seen on a model (the retired ae-natural at 128², 10^3.2).
Upscaled photos carry their resampling's own faint periodicity, so the limit rises with the size
(10^2.9 at 128², 10^3.3 at 256² and 512², 10^3.9 at 1024²).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.analysis.looks import LookFigures, look_figures
from app.sources import open_source
from app.sources.fit import fit_square
from app.sources.photos import bundled_photos

REFERENCE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "motorcycle",
                    "immunohistochemistry", "retina", "china", "flower", "grace_hopper")
PERIODIC_MARGIN = 0.5
CLIP_STRIDE = 90            # clip frames between two measured frames: one scene of the clip (3 s) each
CLIP_FRAMES = 8


@dataclass(frozen=True)
class Reference:
    size: int
    photos: dict[str, LookFigures]
    clip: dict[int, LookFigures]        # by frame index in the sample clip

    @property
    def periodic_limit(self) -> float:
        return self.photos_range("periodic")[1] + PERIODIC_MARGIN

    def photos_range(self, figure: str) -> tuple[float, float]:
        values = [getattr(f, figure) for f in self.photos.values()]
        return min(values), max(values)

    def to_dict(self) -> dict:
        return {"size": self.size, "photos": {name: f.to_dict() for name, f in self.photos.items()},
                "sample_clip": {str(index): f.to_dict() for index, f in self.clip.items()},
                "periodic_limit": self.periodic_limit}


def clip_frames(size: int, indices: list[int]) -> dict[int, np.ndarray]:
    """Frames ``indices`` of the sample clip as its source delivers them at ``size``, (size, size, 3)
    float64 in [0, 1]."""
    wanted, frames = set(indices), {}
    source = open_source("sample", size)
    try:
        for index in range(max(indices) + 1):
            frame = source.read()
            if index in wanted:
                frames[index] = frame.astype(np.float64) / 255
    finally:
        source.close()
    return frames


def measure_reference(size: int) -> Reference:
    photos = {name: look_figures(fit_square(bundled_photos()[name], size).astype(np.float64) / 255)
              for name in REFERENCE_PHOTOS}
    frames = clip_frames(size, [i * CLIP_STRIDE for i in range(CLIP_FRAMES)])
    return Reference(size, photos, {index: look_figures(frame) for index, frame in frames.items()})
