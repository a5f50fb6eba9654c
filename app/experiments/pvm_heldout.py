"""What the PVM experiments share: a trained PVM, frames it never saw, context lesions, and images.

Held-out frames come from the sample clip's renderer with another seed than the clip the shipped
PVMs learned from (``PVM_TRAINING_CLIP``: seed 2, 80², 180 s at 30 fps): the same photos under other
scenes, camera paths, crops and moving patches, in a clip of the same size, length and frame rate,
so that everything moves as fast as in training (the sprites' paths repeat once per clip). They are
fitted to the model's frame size as the training frames were, in memory, in pure torch and numpy.
The training clip's own frames render the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from app.errors import UserError
from app.models import checkpoint
from app.models.pvm.model import PVM
from app.sources.sample_clip import PVM_TRAINING_CLIP, ClipSettings, render_frames


def load_pvm(name: str, device: str) -> PVM:
    """The PVM checkpoint ``name`` (a name in models/ or a path) on ``device``, learning off."""
    loaded = checkpoint.load(name, device)
    if not isinstance(loaded.model, PVM):
        raise UserError(f"--model {name} is an {loaded.model.kind}, not a PVM; pass a model trained with "
                        f"`hypnagogia train pvm`")
    loaded.model.learning = False
    return loaded.model


def held_out_frames(indices: Sequence[int], size: int, seed: int, device: torch.device | str,
                    progress: bool, clip: ClipSettings = PVM_TRAINING_CLIP) -> Tensor:
    """Frames ``indices`` of a clip like ``clip`` rendered with ``seed`` (it loops), as (n, 3, size, size)
    floats in [0, 1]."""
    frames = render_frames(clip, indices, size, seed, progress)
    return torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float().div_(255)


def training_frames(indices: Sequence[int], size: int, device: torch.device | str, progress: bool,
                    clip: ClipSettings = PVM_TRAINING_CLIP) -> Tensor:
    """Frames ``indices`` of the training clip ``clip`` itself, as ``held_out_frames`` gives them."""
    return held_out_frames(indices, size, clip.seed, device, progress, clip)


@dataclass(frozen=True)
class Context:
    """Which kinds of context the units hear. Feedback covers all top-down context: the units above
    that read a unit and the top layer's context to all, which the original scales by one factor."""
    name: str
    lateral: bool
    feedback: bool

    def apply(self, model: PVM) -> None:
        model.lateral = self.lateral
        model.feedback = model.global_context = self.feedback


INTACT = Context("all context", True, True)
LESIONS = (Context("no feedback", True, False), Context("no lateral", False, True), Context("neither", False, False))
CONTEXTS = (INTACT, *LESIONS)


def context_switched_on(model: PVM) -> bool:
    """Whether the spec's schedule has switched lateral and feedback context on by the model's step."""
    return model.steps >= max(model.spec.enable_lateral_at, model.spec.enable_feedback_at)


def picture(image: Tensor) -> np.ndarray:
    """An (S, S, 3) image tensor as an array for imshow."""
    return image.detach().to("cpu", torch.float32).clamp(0, 1).numpy()


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
