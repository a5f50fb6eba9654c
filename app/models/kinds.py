"""The registry of model kinds: every folder under ``app/models/`` whose ``kind.py`` defines ``KIND``.

Adding a kind is adding such a folder; nothing else names it. Folders are found on the package's
search path (``app.models.__path__``), read once.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

import app.models
from app.models.base import ModelKind
from app.params import Registry


@functools.cache
def _discovered() -> dict[str, ModelKind]:
    kinds: dict[str, ModelKind] = {}
    for info in sorted(pkgutil.iter_modules(app.models.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"app.models.{info.name}.kind")
        except ModuleNotFoundError as e:
            if e.name == f"app.models.{info.name}.kind":
                continue            # a helper package, not a kind
            raise
        kind = getattr(module, "KIND", None)
        if isinstance(kind, ModelKind):
            kinds[kind.name] = kind
    return kinds


def all_kinds() -> dict[str, ModelKind]:
    return dict(_discovered())


def get_kind(name: str) -> ModelKind:
    kinds = _discovered()
    if name not in kinds:
        raise KeyError(f"no model kind {name!r} (known: {', '.join(kinds)})")
    return kinds[name]


def rediscover() -> None:
    """Forget what was found (after a folder was added to the search path)."""
    _discovered.cache_clear()


def declare_model_params(registry: Registry) -> None:
    """Every kind's live parameters, so that any of them can be set before its model loads."""
    for kind in _discovered().values():
        for param in kind.params:
            registry.declare(param)
