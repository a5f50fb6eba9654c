"""A still image: delivered once, since it never changes."""

from pathlib import Path

import cv2
import numpy as np

from app.errors import UserError
from app.sources.fit import fit_bgr_capture


class ImageSource:
    """Returns the fitted image on the first read() and None afterwards."""

    def __init__(self, path: Path | str, size: int):
        path = Path(path)
        self.name = path.name
        self.message = ""
        if not path.is_file():
            raise UserError(f"cannot read image '{path}': file not found")
        image_bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image_bgr is None:
            raise UserError(f"cannot read image '{path}': not an image OpenCV can decode")
        self._frame: np.ndarray | None = fit_bgr_capture(image_bgr, size)

    def read(self) -> np.ndarray | None:
        frame, self._frame = self._frame, None
        return frame

    def close(self) -> None:
        self._frame = None
