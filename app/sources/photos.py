"""The natural photos that ship in ``assets/photos/`` (no downloads), as RGB uint8 arrays.

They are the sample photos of scikit-image, scikit-learn and matplotlib, copied out of those
packages unchanged (``assets/README.md`` lists each one's source and licence), so the app needs
none of the three to train or to build the sample clip.
"""

import functools

import cv2
import numpy as np

from app.errors import UserError
from app.resources import ASSET_DIR

PHOTO_DIR = ASSET_DIR / "photos"
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


def bundled_photos() -> dict[str, np.ndarray]:
    """All bundled photos by name, each (H, W, 3) uint8 RGB. Loaded once; the arrays are read-only."""
    return dict(_load_photos())


def training_photos() -> dict[str, np.ndarray]:
    """The bundled photos minus the held-out validation ones."""
    return {name: photo for name, photo in _load_photos().items() if name not in VALIDATION_PHOTOS}


def validation_photos() -> dict[str, np.ndarray]:
    """The held-out photos named in VALIDATION_PHOTOS."""
    return {name: _load_photos()[name] for name in VALIDATION_PHOTOS}


@functools.cache
def _load_photos() -> dict[str, np.ndarray]:
    return {name: _read(file) for name, file in PHOTO_FILES.items()}


def _read(file: str) -> np.ndarray:
    path = PHOTO_DIR / file
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
