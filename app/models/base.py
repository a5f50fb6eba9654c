"""The model-kind contract: what the loop, the session, the panel and the survey may know of a model.

A model is a stack of layers: layer 0 is the image (3 channels, S×S), layers 1…L are feature
maps. Each step the model computes, from the current input image and the previous layer states,
every layer's bottom-up drive (the encoding of the layer below), its top-down drive (the decoding
of the layer above) and the prediction of the image. The GLSL mixer turns drives into new states.

A kind of model lives in a folder of its own under ``app/models/`` whose ``kind.py`` defines
``KIND``, a ``ModelKind``: how to build it from a card, how to wrap it for the loop (a
``DreamingModel``), the live parameters it declares, its mode defaults. The loop asks a model
only what ``DreamingModel`` and ``Capabilities`` say; nothing outside the folder names the kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from app.models.probing import EncodingProbe, UnitProbe
from app.params import Param, Registry


@dataclass
class Drives:
    up: list[torch.Tensor]       # per feature layer, (1, C, H, W): encoding of the layer below
    down: list[torch.Tensor]     # per feature layer, (1, C, H, W): decoding of the layer above
    prediction: torch.Tensor     # (1, 3, S, S) in [0, 1]: the image fed back at the next step
    # the prediction of this step's input, where it differs from ``prediction`` (a model that
    # predicts the next frame); the views compare it with the input
    seen_prediction: torch.Tensor | None = None


@dataclass(frozen=True)
class GridRow:
    """One row of the debug grid: the atlas it shows (``state``, ``up`` or ``down``), or with
    ``minus`` the absolute difference of two; ``scale`` fixes the (center, half-range) that maps
    values to gray, else the row's own statistics do."""
    name: str
    atlas: str
    minus: str | None = None
    scale: tuple[float, float] | None = None


AUTOENCODER_ROWS = (GridRow("state", "state"), GridRow("bottom-up", "up"), GridRow("top-down", "down"))


@dataclass(frozen=True)
class Capabilities:
    """What the loop needs to know of a model to run it, show it and survey it."""
    size_multiple: int = 1              # input sizes must be multiples of this
    fixed_size: int | None = None       # the one input size the model reads (None: any multiple)
    graphable: bool = True              # the step's torch side may be captured as one CUDA graph
    compute_dtype: torch.dtype | None = None    # None: the loop's --precision; else always this
    grid_rows: tuple[GridRow, ...] = AUTOENCODER_ROWS
    learns: bool = False                # changes its weights while it runs
    predicts_input: bool = False        # predicts its input apart from what it feeds back (Drives.seen_prediction)
    code_operations: bool = True        # latent noise and inertia act on its top layer's code
    encodes: bool = True                # ``encode`` maps an image to layer states
    batched: bool = True                # dreams many starts at once as a batch (the survey)
    # takes steps on the device alone, with no mix and no views (``DreamingModel.inner_steps``)
    inner_steps: bool = False

    def suits(self, size: int) -> bool:
        return size == self.fixed_size if self.fixed_size else size % self.size_multiple == 0

    def size_rule(self) -> str:
        return f"reads {self.fixed_size}×{self.fixed_size} frames" if self.fixed_size else \
            f"needs a multiple of {self.size_multiple}"


@dataclass(frozen=True)
class Curve:
    """A series the panel plots for the model (e.g. a learning curve)."""
    title: str
    x_label: str
    lines: dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass
class StepContext:
    """What a step tells the model beyond its image and states."""
    registry: Registry
    # the mixer changed what the layers read (a model that computes its own layer inputs must take
    # the mixed states instead); False on the first step after a reset
    mixed: bool = True
    last_image_change: Callable[[], float | None] = lambda: None


@runtime_checkable
class DreamingModel(Protocol):
    """A model as the loop runs it."""
    channels: tuple[int, ...]

    @property
    def capabilities(self) -> Capabilities: ...

    def layer_shapes(self, size: int) -> list[tuple[int, int, int]]: ...

    def noise_states(self, size: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> list[torch.Tensor]: ...

    def placed(self, device: torch.device, dtype: torch.dtype) -> DreamingModel:
        """The model on ``device`` in the compute dtype the loop chose, ready to step."""

    def drives(self, image: torch.Tensor, states: list[torch.Tensor],
               context: StepContext | None = None) -> Drives: ...

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]: ...

    def takes_inner_steps(self, context: StepContext) -> bool:
        """Where ``capabilities.inner_steps``: whether its own settings, at the registry's values, let it
        take steps with ``inner_steps`` (False where each step must go through the loop)."""

    def inner_steps(self, frames: torch.Tensor, context: StepContext) -> Drives:
        """Where ``capabilities.inner_steps``: one step per frame of ``frames`` ((n, 3, S, S) in [0, 1],
        on its device), each as ``drives`` would take it with that frame as its input and every layer
        reading the bottom-up drive of the one below (a mix that passes it through), but with nothing for
        the loop to show in between. Returns the drives of the last step only: the loop adopts them as
        that step's mix and prediction."""

    def status(self) -> str:
        """A line for the panel ("" for none)."""

    def curves(self) -> list[Curve]: ...

    def later_prediction(self) -> torch.Tensor | None:
        """(S, S, 3): the predicted frame after next, where the model predicts one."""

    def prober(self, size: int) -> UnitProbe | None:
        """Its units as ``app.models.probing`` probes them (layers, responses, receptive fields) at
        frame size ``size``, or None where they cannot be probed."""


class InTurnDreamer(Protocol):
    """A model that dreams one start at a time (not ``batched``), as the survey drives it: every start
    from one restored state, a hold on the start frame, then a dream; sleep is learning with a
    negative rate while a dream has settled."""
    frame_size: int

    def snapshot(self) -> dict[str, torch.Tensor]: ...

    def restore(self, snapshot: dict[str, torch.Tensor]) -> None: ...

    def with_weights_of(self, snapshot: dict[str, torch.Tensor],
                        weights_from: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``snapshot`` with the weights (not the activity) of ``weights_from``."""

    def hold(self, frame: torch.Tensor, steps: int) -> torch.Tensor:
        """Show ``frame`` (3, S, S) for ``steps`` steps with learning off; the last predicted frame."""

    def dream_step(self, frame: torch.Tensor, how: str) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of a ``deep`` (every layer reads its own prediction) or ``full`` (only the frame is
        the prediction) dream: the predicted frame (S, S, 3) and the top layer's state."""

    def learn(self, rate: float | None) -> None:
        """Learn at ``rate`` from the next step (None: not at all)."""

    def weights(self) -> dict[str, torch.Tensor]:
        """The weights by group, flattened (for the change sleep made)."""


@dataclass(frozen=True)
class ModelKind:
    """A kind of model: one folder under ``app/models/``."""
    name: str
    build: Callable[[dict], nn.Module]          # the card's architecture.config → an untrained model
    runtime: Callable[[Any], DreamingModel] = lambda model: model    # the loaded model → what the loop runs
    dreamer: Callable[[Any], InTurnDreamer] | None = None    # for a model that is not ``batched``
    params: tuple[Param, ...] = ()              # live parameters it declares into the registry
    panel_groups: tuple[str, ...] = ()          # registry groups of those parameters, shown in the panel
    # normal values of registry addresses for this kind; ``role:NAME`` names a rule input by its role
    mode_defaults: dict[str, Any] = field(default_factory=dict)
    # the lesions a key or a pad toggles: name → (bool address, its lesioned value); per-layer addresses
    # toggle every layer at once
    lesions: dict[str, tuple[str, bool]] = field(default_factory=lambda: {
        "top-down": ("lesion.down", True), "bottom-up": ("lesion.up", True)})
    # registry values under which a model that learns does so at every step at a fixed rate (bench --learn)
    learning_settings: dict[str, Any] = field(default_factory=dict)
    # the card's architecture.config and whether the weights are an export → the shapes of the state the
    # checkpoint holds, allocating nothing; None: the model is built on torch's meta device to read them
    state_shapes: Callable[[dict, bool], dict[str, tuple[int, ...]]] | None = None


class LayerStack(nn.Module):
    """Base class of feed-forward stacks that are their own ``DreamingModel``: subclasses define
    ``channels`` (feature layers 1…L), ``drives`` and ``encode``."""

    channels: tuple[int, ...]
    kind: str

    @property
    def depth(self) -> int:
        return len(self.channels)

    @property
    def size_multiple(self) -> int:
        """Input sizes must be multiples of this."""
        return 2 ** self.depth

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(size_multiple=self.size_multiple)

    def layer_shapes(self, size: int) -> list[tuple[int, int, int]]:
        return [(c, size >> (i + 1), size >> (i + 1)) for i, c in enumerate(self.channels)]

    def placed(self, device: torch.device, dtype: torch.dtype) -> LayerStack:
        model = self.to(device, dtype)
        return model if torch.device(device).type == "mps" else model.to(memory_format=torch.channels_last)

    def drives(self, image: torch.Tensor, states: list[torch.Tensor],
               context: StepContext | None = None) -> Drives:
        raise NotImplementedError

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The feed-forward states: every layer's encoding of the one below, starting at the image."""
        raise NotImplementedError

    def noise_states(self, size: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> list[torch.Tensor]:
        return [(torch.rand((1, *shape), generator=generator) * 2 - 1).mul_(0.5).to(device)
                for shape in self.layer_shapes(size)]

    def status(self) -> str:
        return ""

    def curves(self) -> list[Curve]:
        return []

    def later_prediction(self) -> torch.Tensor | None:
        return None

    def prober(self, size: int) -> UnitProbe | None:
        """Probes the feature layers through ``encode`` (receptive fields from input gradients)."""
        return EncodingProbe(self, size)
