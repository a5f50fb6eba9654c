"""A model kind for tests that dreams the way a viewer wants to watch: it ignores its input and
shows a bundled photo that drifts slowly across the frame, a photo chosen by the seed of each
dream. It is what a check of dreams must pass; at ``speed`` 0 it stands still, and fast it boils."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from app.models.base import Capabilities, Drives, LayerStack, StepContext
from app.sources.fit import fit_square
from app.sources.photos import bundled_photos

# photos with little clipping, no vast one-coloured sky, far apart in look
PHOTOS = ("coffee", "chelsea", "motorcycle", "immunohistochemistry", "grace_hopper", "astronaut")
MARGIN = 0.25               # the photo is this much larger than the frame: room to drift


@dataclass
class PanningConfig:
    speed: float = 0.08     # pixels per step, along each axis

    def to_dict(self) -> dict:
        return asdict(self)


class PanningPhotos(LayerStack):
    kind = "panning-photos"

    def __init__(self, config: PanningConfig):
        super().__init__()
        self.config = config
        self.channels = (4,)
        self._photo: np.ndarray | None = None
        self._phases = (0.0, 0.0)
        self._step = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(size_multiple=2, graphable=False, code_operations=False, encodes=False)

    def noise_states(self, size: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """A new dream: its photo and where on it the drift starts come from the dream's seed."""
        choice = int(torch.randint(len(PHOTOS), (1,), generator=generator))
        self._photo = fit_square(bundled_photos()[PHOTOS[choice]], round(size * (1 + MARGIN))).astype(np.float32) / 255
        self._phases = tuple(float(p) for p in torch.rand(2, generator=generator) * 2)
        self._step = 0
        return super().noise_states(size, generator, device)

    def drives(self, image: torch.Tensor, states: list[torch.Tensor], context: StepContext | None = None) -> Drives:
        size = image.shape[-1]
        room = self._photo.shape[0] - size
        travelled = self._step * self.config.speed
        self._step += 1
        # diagonally back and forth within the photo, bouncing off its edges
        x, y = (room / 2 * (1 + _triangle(travelled / room + phase)) for phase in self._phases)
        shift = np.float32([[1, 0, -x], [0, 1, -y]])
        frame = cv2.warpAffine(self._photo, shift, (size, size), flags=cv2.INTER_LINEAR)
        prediction = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).to(image)
        return Drives(up=[torch.zeros_like(states[0])], down=[states[0]], prediction=prediction)


def _triangle(t: float) -> float:
    """A wave of period 2 between −1 and 1, linear in between."""
    return 1 - 2 * abs(t % 2 - 1)
