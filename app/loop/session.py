"""The controller side of a running loop: which model, size and source it runs, chosen by the user.

A ``Session`` owns the engine and changes what it runs while it runs — any model, any size, any
source, dreaming, paused or holding a frame. It writes what a choice implies into the registry (a
model's normal values, a viewing mode's values), so the engine only ever reads it.
"""

from __future__ import annotations

import moderngl
import torch

from app.errors import UserError
from app.controllers.params import controller_params
from app.gl.mixer import RuleSet
from app.loop.device import pick_device
from app.loop.engine import Engine
from app.loop.modes import apply_mode, apply_model_defaults
from app.models.base import Capabilities
from app.models.checkpoint import LoadedModel, list_models, load
from app.models.kinds import declare_model_params
from app.params import Registry, make_registry
from app.sources import open_source

PREFERRED_MODELS = {"gpu": ("ae-smooth-256", "ae-tiny-smooth"), "cpu": ("ae-tiny-smooth",)}


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


def full_registry() -> Registry:
    """The loop's parameters, the controllers' and every model kind's (the rules add theirs when they load)."""
    registry = make_registry()
    for param in controller_params():
        registry.declare(param)
    declare_model_params(registry)
    return registry


def apply_assignments(registry: Registry, assignments: list[str]) -> None:
    for assignment in assignments:
        registry.apply(assignment)


def _refuse_broken_rule(rules: RuleSet, assignments: list[str]) -> None:
    """``--set rule=NAME`` of a rule that did not compile: its compiler's message, not a list of the others."""
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        if key.strip() == "rule" and value.strip() in rules.errors:
            raise UserError(f"mixing rule {value.strip()} does not compile: {rules.errors[value.strip()]}; fix the "
                            f"shader or pick another rule")


def load_model(name: str | None, device: torch.device) -> LoadedModel:
    return load(name or default_model(device), device)


def model_size(loaded: LoadedModel, requested: int | None, device: torch.device) -> int:
    """The input size for ``loaded``: the one it reads where it reads one, else ``requested`` (or the
    device's default), which must suit it."""
    capabilities = loaded.runtime().capabilities
    if capabilities.fixed_size:
        size = capabilities.fixed_size
        if requested not in (None, size):
            raise UserError(f"{loaded.name} reads {size}×{size} frames (it fixes the size); drop --size or "
                            f"pass --size {size}")
        return size
    size = requested or default_size(device)
    if not capabilities.suits(size):
        raise UserError(f"--size {size} does not suit model {loaded.name}: it {capabilities.size_rule()}")
    return size


def nearest_size(capabilities: Capabilities, wanted: int) -> int:
    """The size nearest ``wanted`` that suits a model."""
    if capabilities.fixed_size:
        return capabilities.fixed_size
    multiple = capabilities.size_multiple
    return max(multiple, round(wanted / multiple) * multiple)


class Session:
    def __init__(self, ctx: moderngl.Context, registry: Registry, loaded: LoadedModel, source_spec: str,
                 size: int, device: torch.device, *, realtime: bool, rules: RuleSet | None = None, seed: int = 0,
                 sync_timing: bool = False, precision: str = "fp32"):
        self.registry = registry
        self.realtime = realtime
        self.source_spec = source_spec
        self.free_size = size           # the size asked for, kept for models that take any size
        source = open_source(source_spec, size, realtime=realtime)
        self.engine = Engine(ctx, registry, loaded, source, size, device, rules=rules, seed=seed,
                             sync_timing=sync_timing, precision=precision)
        self._stop_watching = registry.watch("mode", self._apply_mode)
        self._apply_model_defaults({})

    @classmethod
    def from_args(cls, ctx: moderngl.Context, args, *, realtime: bool, sync_timing: bool = False,
                  registry: Registry | None = None, keep_broken_rules: bool | None = None) -> Session:
        """Registry (with --set applied), model, source and engine for ``args``.

        A mixing rule that fails to compile stops every headless command with its one-line error;
        ``keep_broken_rules`` (by default only for the window, ``args.command == "live"``) runs on
        without it instead, the error in ``rules.errors`` for the panel."""
        device = pick_device(args.device)
        registry = registry or full_registry()
        if keep_broken_rules is None:
            keep_broken_rules = getattr(args, "command", None) == "live"
        rules = RuleSet(ctx, registry, strict=not keep_broken_rules)
        _refuse_broken_rule(rules, args.assignments)
        apply_assignments(registry, args.assignments)        # a bad --set fails before any loading
        loaded = load_model(args.model, device)
        size = model_size(loaded, args.size, device)
        session = cls(ctx, registry, loaded, args.source, size, device, realtime=realtime, rules=rules,
                      seed=args.seed, sync_timing=sync_timing, precision=getattr(args, "precision", "fp32"))
        session.free_size = args.size or default_size(device)
        apply_assignments(registry, args.assignments)        # again: the model's defaults came in between
        return session

    # ---- what runs ---------------------------------------------------------------------------
    def switch_model(self, name_or_loaded: str | LoadedModel) -> LoadedModel:
        """Run another model from the next step on, at its own size or the size asked for."""
        engine = self.engine
        loaded = name_or_loaded if isinstance(name_or_loaded, LoadedModel) else load(name_or_loaded, engine.device)
        size = nearest_size(loaded.runtime().capabilities, self.free_size)
        old_size, old_defaults = engine.size, engine.loaded.defaults
        engine.set_model(loaded, size)
        self._apply_model_defaults(old_defaults)
        if engine.size != old_size:
            self._reopen_source()
        return loaded

    def switch_size(self, size: int) -> None:
        """Run the current model at another size (a model that fixes its size keeps it)."""
        engine = self.engine
        capabilities = engine.capabilities
        if capabilities.fixed_size:
            raise UserError(f"{engine.loaded.name} reads {capabilities.fixed_size}×{capabilities.fixed_size} "
                            f"frames; its size cannot change")
        if not capabilities.suits(size):
            raise UserError(f"size {size} does not suit model {engine.loaded.name}: it {capabilities.size_rule()}")
        self.free_size = size
        if size != engine.size:
            engine.set_model(engine.loaded, size)
            self._reopen_source()

    def switch_source(self, spec: str) -> None:
        """Read frames from ``spec`` from the next step on (the old source closes)."""
        source = open_source(spec, self.engine.size, realtime=self.realtime)
        self.engine.set_source(source)
        self.source_spec = spec

    def _reopen_source(self) -> None:
        """The source again at the engine's new size; where it cannot reopen, the old one goes on (the
        engine fits its frames)."""
        try:
            self.switch_source(self.source_spec)
        except UserError:
            pass

    # ---- what a choice implies ----------------------------------------------------------------
    def _apply_model_defaults(self, old_defaults: dict) -> None:
        apply_model_defaults(self.registry, self.registry["mode"], old_defaults,
                             self.engine.loaded.defaults, self.engine.rules.address_of_role)

    def _apply_mode(self, mode: str) -> None:
        rules = self.engine.rules
        apply_mode(self.registry, mode, self.engine.loaded.defaults, rules.address_of_role)

    def close(self) -> None:
        self._stop_watching()
        self.engine.release()


def build_engine(ctx: moderngl.Context, args, *, realtime: bool, sync_timing: bool = False,
                 registry: Registry | None = None) -> Engine:
    """The engine of a session for ``args``, for commands that only step it (the session lives on in
    the registry's watcher, applying viewing modes)."""
    return Session.from_args(ctx, args, realtime=realtime, sync_timing=sync_timing, registry=registry).engine
