"""Sources that need no file or device: random noise and moving shapes."""

import colorsys

import numpy as np

TIME_STEP_SECONDS = 1 / 30
BACKGROUND_TURN_PER_SECOND = 0.15  # radians: how fast the gradient's direction swings round


class NoiseSource:
    """Fresh uniform RGB noise on every read, reproducible from the seed."""

    name = "noise"

    def __init__(self, size: int, seed: int = 0):
        self.message = ""
        self._size = size
        self._rng = np.random.default_rng(seed)

    def read(self) -> np.ndarray:
        return self._rng.integers(0, 256, (self._size, self._size, 3), dtype=np.uint8)

    def close(self) -> None:
        pass


class ShapesSource:
    """Coloured discs and squares bouncing over a slowly turning gradient, one time step per read."""

    name = "shapes"

    def __init__(self, size: int, seed: int = 0, shape_count: int = 6):
        self.message = ""
        self._size = size
        rng = np.random.default_rng(seed)
        self._centers = rng.uniform(0.2, 0.8, (shape_count, 2)) * size
        headings = rng.uniform(0, 2 * np.pi, shape_count)
        speeds = rng.uniform(0.15, 0.4, shape_count) * size  # pixels per second
        self._velocities = np.stack([np.cos(headings), np.sin(headings)], axis=1) * speeds[:, None]
        self._radii = rng.uniform(0.06, 0.13, shape_count) * size
        self._is_square = np.arange(shape_count) % 2 == 1
        self._angles = rng.uniform(0, np.pi / 2, shape_count)
        self._spins = rng.uniform(-1.0, 1.0, shape_count)  # radians per second
        self._colors = np.array([_vivid_color(hue) for hue in rng.uniform(0, 1, shape_count)], np.float32)
        self._background = np.array([_vivid_color(hue, 0.45, 0.35) for hue in rng.uniform(0, 1, 2)], np.float32)
        self._background_angle = rng.uniform(0, 2 * np.pi)
        self._ys, self._xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5

    def read(self) -> np.ndarray:
        image = self._draw_background()
        for index in range(len(self._centers)):
            self._draw_shape(image, index)
        self._step()
        return (image * 255 + 0.5).astype(np.uint8)

    def close(self) -> None:
        pass

    def _draw_background(self) -> np.ndarray:
        direction = np.array([np.cos(self._background_angle), np.sin(self._background_angle)], np.float32)
        half = self._size / 2
        along = ((self._xs - half) * direction[0] + (self._ys - half) * direction[1]) / self._size + 0.5
        blend = np.clip(along, 0, 1)[..., None]
        return self._background[0] * (1 - blend) + self._background[1] * blend

    def _draw_shape(self, image: np.ndarray, index: int) -> None:
        cx, cy = self._centers[index]
        radius = self._radii[index]
        reach = radius * np.sqrt(2) + 1
        y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, self._size)
        x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, self._size)
        if y0 >= y1 or x0 >= x1:
            return
        dx = self._xs[y0:y1, x0:x1] - cx
        dy = self._ys[y0:y1, x0:x1] - cy
        if self._is_square[index]:
            distance = _square_distance(dx, dy, radius, self._angles[index])
        else:
            distance = np.hypot(dx, dy) - radius
        # Signed distance in pixels → fractional pixel coverage: a one-pixel anti-aliased edge.
        coverage = np.clip(0.5 - distance, 0, 1)[..., None]
        region = image[y0:y1, x0:x1]
        region += (self._colors[index] - region) * coverage

    def _step(self) -> None:
        self._centers += self._velocities * TIME_STEP_SECONDS
        for axis in range(2):
            low = self._centers[:, axis] < self._radii
            high = self._centers[:, axis] > self._size - self._radii
            self._velocities[low, axis] = np.abs(self._velocities[low, axis])
            self._velocities[high, axis] = -np.abs(self._velocities[high, axis])
        self._angles += self._spins * TIME_STEP_SECONDS
        self._background_angle += BACKGROUND_TURN_PER_SECOND * TIME_STEP_SECONDS


def _square_distance(dx: np.ndarray, dy: np.ndarray, half_side: float, angle: float) -> np.ndarray:
    """Signed distance from each point to a square centred at the origin, rotated by `angle`."""
    cos, sin = np.cos(angle), np.sin(angle)
    qx = np.abs(dx * cos + dy * sin) - half_side
    qy = np.abs(-dx * sin + dy * cos) - half_side
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    inside = np.minimum(np.maximum(qx, qy), 0)
    return outside + inside


def _vivid_color(hue: float, saturation: float = 0.75, value: float = 0.95) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(hue, saturation, value)
