"""Keep the frames coming when the preferred source cannot open or goes away."""

from __future__ import annotations

from typing import Callable

import numpy as np

from app.errors import UserError
from app.sources.base import Source


class FallbackSource:
    """Reads from the primary source; switches to the fallback for good if the primary
    cannot be opened or later reports `lost`. The switch stays visible in `message`, which
    the window and the command line announce."""

    def __init__(self, primary_factory: Callable[[], Source], fallback_factory: Callable[[], Source]):
        self._fallback_factory = fallback_factory
        self.message = ""
        try:
            self._active = primary_factory()
            self._on_fallback = False
        except UserError as error:
            self._switch_to_fallback(str(error))

    @property
    def name(self) -> str:
        return self._active.name

    def read(self) -> np.ndarray | None:
        if not self._on_fallback and getattr(self._active, "lost", False):
            reason = self._active.message
            self._active.close()
            self._switch_to_fallback(reason)
        return self._active.read()

    def close(self) -> None:
        self._active.close()

    def _switch_to_fallback(self, reason: str) -> None:
        self._active = self._fallback_factory()
        self._on_fallback = True
        self.message = f"{reason}; showing {self._active.name} instead"
