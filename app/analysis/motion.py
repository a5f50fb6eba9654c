"""How a dream moves, from its prediction's per-step changes and its frames: whether it boils, dies
or drifts, and how many different looks a model's seeds end in.

A step's change is the RMS of P_t − P_{t−1} over every pixel and channel (pixel range 0…1), as the
engine measures it. The motion figures look at the last ``WINDOW_STEPS`` steps of a dream, or at
its last third when it is shorter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from app.analysis.looks import look_distance

WINDOW_STEPS = 1000
# Two end frames are one look when their 16 × 16 layouts lie closer than this: half the distance of
# the closest two reference photos (0.20), so that any two of them are told apart.
LOOK_TOLERANCE = 0.1


def motion_window(steps: int) -> int:
    """The steps at the end of a dream of ``steps`` that the motion figures look at."""
    return max(1, min(WINDOW_STEPS, steps // 3))


@dataclass(frozen=True)
class MotionFigures:
    window: int           # the last steps measured
    mean_change: float    # mean per-step change over them
    max_change: float     # the largest per-step change over them
    drift: float          # RMS difference of the frames ``window`` steps apart that end the dream

    def to_dict(self) -> dict:
        return asdict(self)


def motion_figures(changes: np.ndarray, before: np.ndarray, after: np.ndarray) -> MotionFigures:
    """From a dream's per-step changes (all its steps) and the frames ``motion_window`` steps before
    its end and at its end."""
    changes = np.asarray(changes, np.float64)
    window = motion_window(len(changes))
    last = changes[-window:]
    drift = float(np.sqrt(((np.asarray(after, np.float64) - before) ** 2).mean()))
    return MotionFigures(window=window, mean_change=float(last.mean()), max_change=float(last.max()), drift=drift)


def look_groups(frames: list[np.ndarray], tolerance: float = LOOK_TOLERANCE) -> list[int]:
    """Which look each frame shows, numbered from 0 in order of first appearance: a frame joins the
    first look whose first frame lies within ``tolerance`` (``look_distance``), else starts its own."""
    leaders: list[np.ndarray] = []
    groups = []
    for frame in frames:
        for index, leader in enumerate(leaders):
            if look_distance(frame, leader) < tolerance:
                groups.append(index)
                break
        else:
            groups.append(len(leaders))
            leaders.append(frame)
    return groups
