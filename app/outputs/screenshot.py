"""Saves an output frame as a timestamped PNG."""

import time
from itertools import count
from pathlib import Path

import cv2
import numpy as np

from app.errors import UserError


def save_png(frame: np.ndarray, folder: Path, prefix: str = "hypnagogia") -> Path:
    """Writes a (height, width, 3) uint8 RGB frame to folder/prefix-YYYYmmdd-HHMMSS[-n].png and returns the path.

    Never overwrites: a name already taken (two shots in one second) gets the next free -n suffix.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise UserError(f"screenshot frame is {'x'.join(map(str, frame.shape))} {frame.dtype}: "
                        "expected height x width x 3 uint8 RGB")
    folder = Path(folder)
    ok, png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"could not encode a {frame.shape[1]}x{frame.shape[0]} screenshot as PNG")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return _write_new_file(folder, f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}", png.tobytes())
    except OSError as exc:
        raise UserError(f"cannot save screenshot in '{folder}': {exc.strerror}; choose a writable folder") from exc


def _write_new_file(folder: Path, stem: str, data: bytes) -> Path:
    for n in count(1):
        path = folder / (f"{stem}.png" if n == 1 else f"{stem}-{n}.png")
        try:
            # Exclusive create: nothing can take the name between choosing it and writing.
            file = open(path, "xb")
        except FileExistsError:
            continue
        try:
            with file:
                file.write(data)
        except OSError:
            path.unlink(missing_ok=True)
            raise
        return path
