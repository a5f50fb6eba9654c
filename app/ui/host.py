"""What the window offers its controllers (``app.controllers.hub.Host``): the session to switch,
the view as a thumbnail, and its notices."""

from __future__ import annotations

import numpy as np

from app.ui import actions
from app.ui.state import AppState

THUMBNAIL_SIDE = 96


class WindowHost:
    def __init__(self, state: AppState):
        self.state = state

    def model_name(self) -> str:
        return self.state.engine.loaded.name

    def source_spec(self) -> str:
        return self.state.source_spec

    def switch_model(self, name: str) -> None:
        if name != self.state.engine.loaded.name:
            actions.switch_model(self.state, name)

    def switch_source(self, spec: str) -> None:
        if spec != self.state.source_spec:
            actions.switch_source(self.state, spec)

    def thumbnail(self) -> np.ndarray:
        """The main view now, THUMBNAIL_SIDE pixels square, RGB uint8, top row first."""
        ctx = self.state.engine.ctx
        texture = ctx.texture((THUMBNAIL_SIDE, THUMBNAIL_SIDE), 4)
        fbo = ctx.framebuffer([texture])
        try:
            fbo.use()
            fbo.viewport = (0, 0, THUMBNAIL_SIDE, THUMBNAIL_SIDE)
            self.state.views.render(self.state.engine.frame(), "main", fbo, self.state.registry["error_gain"])
            pixels = np.frombuffer(fbo.read(components=3), np.uint8).reshape(THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3)
            return pixels[::-1].copy()
        finally:
            fbo.release()
            texture.release()

    def notify(self, message: str) -> None:
        self.state.notify(message)
