"""What every frame source offers."""

from typing import Protocol

import numpy as np


class Source(Protocol):
    name: str
    message: str  # "" when all is well, else a one-line status for the panel

    def read(self) -> np.ndarray | None:
        """The newest frame, or None if nothing new since the last read."""

    def close(self) -> None: ...
