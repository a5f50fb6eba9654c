"""Fit captured frames to the model's square input."""

import cv2
import numpy as np


def fit_square(frame: np.ndarray, size: int) -> np.ndarray:
    """Center-crop `frame` (H, W, C) to a square and resize it to size×size."""
    height, width = frame.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = frame[top : top + side, left : left + side]
    if side != size:
        interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        square = cv2.resize(square, (size, size), interpolation=interpolation)
    return np.ascontiguousarray(square)


def fit_bgr_capture(frame_bgr: np.ndarray, size: int) -> np.ndarray:
    """Fit an OpenCV (BGR) frame to size×size and convert it to RGB, the order every source returns."""
    return cv2.cvtColor(fit_square(frame_bgr, size), cv2.COLOR_BGR2RGB)
