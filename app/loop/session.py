"""Building a loop from command-line choices: registry, model, source, engine."""

from __future__ import annotations

import moderngl
import torch

from app.loop.device import pick_device
from app.loop.engine import Engine
from app.errors import UserError
from app.gl.mixer import RuleSet
from app.models.checkpoint import LoadedModel, list_models, load
from app.params import Registry, make_registry
from app.sources import open_source

PREFERRED_MODELS = {"gpu": ("ae-natural", "ae-tiny"), "cpu": ("ae-tiny", "ae-natural")}


def default_model(device: torch.device) -> str:
    order = PREFERRED_MODELS["cpu" if device.type == "cpu" else "gpu"]
    available = list_models()
    for name in order:
        if name in available:
            return name
    if available:
        return available[0]
    raise UserError("no models in models/; train one with `hypnagogia train ae` or pass --model PATH")


def default_size(device: torch.device) -> int:
    return 128 if device.type == "cpu" else 256


def apply_assignments(registry: Registry, assignments: list[str]) -> None:
    for assignment in assignments:
        registry.apply(assignment)


def load_model(name: str | None, device: torch.device) -> LoadedModel:
    return load(name or default_model(device), device)


def model_size(loaded: LoadedModel, requested: int | None, device: torch.device) -> int:
    """The input size: a PVM reads its spec's frame size; an autoencoder any multiple of 2^depth."""
    if loaded.model.kind == "pvm":
        size = loaded.model.spec.frame_size
        if requested not in (None, size):
            raise UserError(f"{loaded.name} reads {size}×{size} frames (its spec fixes the size); drop --size or "
                            f"pass --size {size}")
        return size
    size = requested or default_size(device)
    if size % loaded.model.size_multiple:
        raise UserError(f"--size {size} does not suit model {loaded.name}: it must be a multiple of "
                        f"{loaded.model.size_multiple}")
    return size


def build_engine(ctx: moderngl.Context, args, *, realtime: bool, sync_timing: bool = False,
                 registry: Registry | None = None) -> Engine:
    """Registry (with --set applied), model, source and engine for ``args``."""
    device = pick_device(args.device)
    registry = registry or make_registry()
    rules = RuleSet(ctx, registry)
    apply_assignments(registry, args.assignments)        # a bad --set fails before any loading
    loaded = load_model(args.model, device)
    size = model_size(loaded, args.size, device)
    source = open_source(args.source, size, realtime=realtime)
    engine = Engine(ctx, registry, loaded, source, size, device, rules=rules, seed=args.seed,
                    sync_timing=sync_timing, precision=getattr(args, "precision", "fp32"))
    apply_assignments(registry, args.assignments)        # again: the model's defaults came in between
    return engine
