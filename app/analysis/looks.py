"""What one frame looks like to a viewer, as numbers: periodic artefacts, clipping, a one-colour
field, and how far two frames' looks lie apart.

- ``periodic``: ``app.analysis.spectrum.periodic_peak``, log10 of the strongest high-frequency
  spectral peak over the median of its ring.
- ``clipped``: the fraction of pixels with any channel at 0 or at 1 as displayed (0 or 255 once
  rounded to 8 bits): saturated colours count, not only black and white.
- ``one_colour``: how much of the frame one colour covers, fine texture averaged away: the
  fraction of the frame's 32 × 32 area-averaged cells whose colour lies within 0.1 RMS (over the
  three channels) of the cells' median colour. A one-colour field, stripes on it or not, measures
  near 1; the reference photos (``app.analysis.reference``) 0.06 to 0.73, but for the Hubble
  deep field's black sky (0.95).
- ``look_distance``: the RMS difference of two frames' layouts, their area means over 16 × 16
  cells; two reference photos lie at least 0.20 apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from app.analysis.spectrum import periodic_peak, spectral_slope

LOOK_CELLS = 16
COLOUR_CELLS, SAME_COLOUR = 32, 0.1


@dataclass(frozen=True)
class LookFigures:
    periodic: float     # log10 of the strongest high-frequency spectral peak over its ring's median
    clipped: float      # fraction of pixels with any channel at 0 or 255 in 8 bits
    one_colour: float   # fraction of the frame within 0.1 RMS of its median colour, at 32 × 32 cells
    slope: float        # log-log slope of the radially averaged power spectrum
    finite: bool

    def to_dict(self) -> dict:
        return asdict(self)


def layout(frame: np.ndarray, cells: int = LOOK_CELLS) -> np.ndarray:
    """(cells, cells, 3) float32: the frame's area means over a grid of cells."""
    return cv2.resize(np.asarray(frame, np.float32), (cells, cells), interpolation=cv2.INTER_AREA)


def clipped_fraction(frame: np.ndarray) -> float:
    shown = np.rint(np.clip(frame, 0, 1) * 255)
    return float(((shown == 0) | (shown == 255)).any(axis=-1).mean())


def one_colour_fraction(frame: np.ndarray) -> float:
    cells = layout(frame, COLOUR_CELLS).reshape(-1, 3)
    distance = np.sqrt(((cells - np.median(cells, axis=0)) ** 2).mean(axis=1))
    return float((distance < SAME_COLOUR).mean())


def look_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((layout(a) - layout(b)) ** 2).mean()))


def look_figures(frame: np.ndarray) -> LookFigures:
    """Figures of an (N, N, 3) RGB frame with values in [0, 1]."""
    frame = np.asarray(frame, np.float64)
    if not np.isfinite(frame).all():
        nan = float("nan")
        return LookFigures(periodic=nan, clipped=nan, one_colour=nan, slope=nan, finite=False)
    return LookFigures(periodic=periodic_peak(frame), clipped=clipped_fraction(frame),
                       one_colour=one_colour_fraction(frame), slope=spectral_slope(frame), finite=True)
