"""The natural photos that ship in ``assets/`` (no downloads), as RGB uint8 arrays.

``assets/photos/`` holds the sample photos of scikit-image, scikit-learn, matplotlib and SciPy,
copied out of those packages, so the app needs none of them to train or to build the sample clip.
``assets/wallpapers/`` holds the photographs among Debian's desktop wallpapers, scaled down.
``assets/README.md`` lists each one's source and licence.

The bundled photos (``PHOTO_FILES``) are what the shipped models trained and validate on and what
the sample clip is made of; the library (``library_photos``) adds every other shipped photo.
"""

import functools
from pathlib import Path

import cv2
import numpy as np

from app.errors import UserError
from app.resources import ASSET_DIR

PHOTO_DIR = ASSET_DIR / "photos"
WALLPAPER_DIR = ASSET_DIR / "wallpapers"
# name → file, in the order the photos were always listed (training reads them in this order)
PHOTO_FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "motorcycle": "motorcycle.png",
    "immunohistochemistry": "immunohistochemistry.png",
    "retina": "retina.jpg",
    "china": "china.jpg",
    "flower": "flower.jpg",
    "grace_hopper": "grace_hopper.jpg",
}

# Held out from training so the models can be checked on photos they never saw.
VALIDATION_PHOTOS = ("chelsea", "flower")

# In the library only, so that adding them changes neither the training set of the shipped models
# nor the sample clip; most are grey-level.
LIBRARY_PHOTO_FILES = {
    "raccoon": "raccoon.png",
    "ascent": "ascent.png",
    "camera": "camera.png",
    "coins": "coins.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
}


def bundled_photos() -> dict[str, np.ndarray]:
    """All bundled photos by name, each (H, W, 3) uint8 RGB. Loaded once; the arrays are read-only."""
    return dict(_load_photos())


def training_photos() -> dict[str, np.ndarray]:
    """The bundled photos minus the held-out validation ones."""
    return {name: photo for name, photo in _load_photos().items() if name not in VALIDATION_PHOTOS}


def validation_photos() -> dict[str, np.ndarray]:
    """The held-out photos named in VALIDATION_PHOTOS."""
    return {name: _load_photos()[name] for name in VALIDATION_PHOTOS}


def library_photos() -> dict[str, np.ndarray]:
    """Every shipped photo but the validation ones: the training photos, the further package photos
    and the wallpapers, by name (a wallpaper's name is its file's stem)."""
    return {**training_photos(), **_load_library()}


@functools.cache
def _load_photos() -> dict[str, np.ndarray]:
    return {name: _read(PHOTO_DIR / file) for name, file in PHOTO_FILES.items()}


@functools.cache
def _load_library() -> dict[str, np.ndarray]:
    photos = {name: _read(PHOTO_DIR / file) for name, file in LIBRARY_PHOTO_FILES.items()}
    return photos | {path.stem: _read(path) for path in sorted(WALLPAPER_DIR.glob("*.jpg"))}


def _read(path: Path) -> np.ndarray:
    try:
        # imdecode of the bytes, not imread: imread cannot open non-ASCII paths on Windows
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    except OSError as e:
        raise UserError(f"bundled photo {path} is unreadable ({e.strerror}); reinstall hypnagogia") from None
    if image is None:
        raise UserError(f"bundled photo {path} is not an image; reinstall hypnagogia")
    photo = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    photo.setflags(write=False)
    return photo
