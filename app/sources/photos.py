"""Natural photos that ship inside installed packages (no downloads), as RGB uint8 arrays."""

import functools
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from matplotlib import cbook
from sklearn.datasets import load_sample_images

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
    photos = {
        "astronaut": skimage.data.astronaut(),
        "coffee": skimage.data.coffee(),
        "chelsea": skimage.data.chelsea(),
        "rocket": skimage.data.rocket(),
        "hubble_deep_field": skimage.data.hubble_deep_field(),
        "motorcycle": skimage.data.stereo_motorcycle()[0],
        "immunohistochemistry": skimage.data.immunohistochemistry(),
        "retina": skimage.data.retina(),
    }
    sklearn_images = load_sample_images()
    for filename, image in zip(sklearn_images.filenames, sklearn_images.images):
        photos[Path(filename).stem] = image
    hopper_path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    photos["grace_hopper"] = cv2.cvtColor(cv2.imread(str(hopper_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return {name: _read_only(photo) for name, photo in photos.items()}


def _read_only(photo: np.ndarray) -> np.ndarray:
    photo = np.ascontiguousarray(photo, dtype=np.uint8)
    photo.setflags(write=False)
    return photo
