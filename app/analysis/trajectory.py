"""A live 2-D picture of where the top layer is going: PCA over a running window of states.

States are first reduced by a fixed random projection (Johnson–Lindenstrauss: distances are
kept approximately), so the PCA costs the same for any layer size.
"""

from __future__ import annotations

import collections

import numpy as np

PROJECTED_DIMS = 128


class Trajectory:
    def __init__(self, window: int = 300, seed: int = 0):
        self.window = window
        self._rng = np.random.default_rng(seed)
        self._projection: np.ndarray | None = None
        self._points: collections.deque[np.ndarray] = collections.deque(maxlen=window)
        self.steps: collections.deque[int] = collections.deque(maxlen=window)

    def reset(self) -> None:
        self._points.clear()
        self.steps.clear()

    def add(self, step: int, state: np.ndarray) -> None:
        x = np.asarray(state, np.float64).ravel()
        if self._projection is None or self._projection.shape[0] != x.size:
            self._projection = self._rng.standard_normal((x.size, PROJECTED_DIMS)) / np.sqrt(PROJECTED_DIMS)
            self.reset()
        self._points.append(x @ self._projection)
        self.steps.append(step)

    def project(self, extra: list[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray]:
        """(points (n, 2), extra points (m, 2)) in the plane of the window's two principal axes.
        ``extra`` are full states (e.g. attractors) placed in the same plane."""
        if len(self._points) < 3:
            return np.zeros((0, 2)), np.zeros((0, 2))
        data = np.stack(self._points)
        mean = data.mean(axis=0)
        centered = data - mean
        _, vectors = np.linalg.eigh(centered.T @ centered)   # ascending eigenvalues
        axes = vectors[:, :-3:-1]
        placed = [np.asarray(e, np.float64).ravel() @ self._projection for e in extra
                  if np.asarray(e).size == self._projection.shape[0]]
        others = (np.stack(placed) - mean) @ axes if placed else np.zeros((0, 2))
        return (data - mean) @ axes, others
