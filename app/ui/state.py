"""The window's explicit state: everything the panel, the shortcuts and the loop share."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.loop.engine import Engine
from app.loop.triggers import DreamToggle
from app.loop.session import Session
from app.gl.views import Cell, Views
from app.outputs.sinks import RecorderSink
from app.outputs.view_output import Outputs
from app.models.checkpoint import model_cards
from app.ui.dialogs import FileDialog
from app.ui.explore import Explorer
from app.ui.presets_panel import PresetsTab
from app.ui.probe import ProbeView


CARDS_REFRESH_S = 3.0


@dataclass
class LiveRecording:
    """A recording of the window's view in real time: a constant-rate file whose frame i shows the
    view at i / fps seconds after the start (frames repeat when the loop is slower than the file).
    ``sink`` is paced by the file's clock and sits on the output of ``view`` at ``size``."""
    sink: RecorderSink
    view: str
    size: tuple[int, int]
    started: float                  # time.monotonic() at its start


@dataclass
class AppState:
    session: Session
    views: Views
    explorer: Explorer
    capture_dir: Path
    panel_visible: bool = True
    step_requested: bool = False
    screenshot_requested: bool = False
    recording: LiveRecording | None = None
    outputs: Outputs | None = None                 # recordings and screenshots; made by the first of them
    record_size: tuple[int, int] | None = None     # None: the view's natural size
    quit_requested: bool = False
    fullscreen_requested: bool = False
    window: object = None                            # the main Window, once it is open
    output_window: object = None                     # the OutputWindow while one is open
    output_monitor: int = 1                          # where the panel's button opens it
    senders: dict = field(default_factory=dict)      # kind (app.outputs.senders.SENDERS) → its running sink
    send_size: tuple[int, int] | None = None         # the senders' frame size (None: 1280×720)
    cells: list[Cell] = field(default_factory=list)       # where the view's cells are on screen (pixels)
    widgets: dict[str, list[float]] = field(default_factory=dict)  # panel widget rects (window coords)
    notices: collections.deque = field(default_factory=lambda: collections.deque(maxlen=6))
    frame_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=120))
    probe: ProbeView = field(default_factory=ProbeView)  # the probed unit (app.ui.probe)
    presets_tab: PresetsTab = field(default_factory=PresetsTab)   # the Presets tab's fields and thumbnails
    # what the Play tab's own fields hold between frames: text being typed, the entries picked
    panel_fields: dict = field(default_factory=lambda: {
        "midi.network": "", "mod.add": 0, "audio.path": "", "audio.action": 0, "audio.devices": [],
        "audio.devices_read_at": float("-inf")})
    path_input: str = ""
    dialog: FileDialog = field(default_factory=FileDialog)   # the open-file dialog, polled each frame
    controllers: object = None                       # app.controllers.hub.Controllers, once the window runs
    dream: DreamToggle = None                        # dream on / off, remembering the amount
    _cards: dict = field(default_factory=dict)
    _cards_read_at: float = float("-inf")

    def __post_init__(self):
        if self.dream is None:
            self.dream = DreamToggle(self.session.registry)

    @property
    def engine(self) -> Engine:
        return self.session.engine

    @property
    def source_spec(self) -> str:
        return self.session.source_spec

    @property
    def registry(self):
        return self.session.registry

    def status_lines(self) -> list[str]:
        """The messages the panel's status shows for as long as they hold: the source's (a missing
        webcam's fallback), the engine's (a reset after NaN) and the mixing rules' errors."""
        engine = self.engine
        return [m for m in (engine.source.message, engine.message, *engine.rules.errors.values()) if m]

    def notify(self, message: str) -> None:
        """A one-line message for the console and the panel's notices (repeats are shown once). One the
        panel already shows as a status line goes to the console alone: the panel shows it once."""
        if message and (not self.notices or self.notices[-1][1] != message):
            print(message, flush=True)
            if message not in self.status_lines():
                self.notices.append((time.strftime("%H:%M:%S"), message))

    def model_cards(self) -> dict[str, dict]:
        """The cards of models/ (re-read every few seconds, so new models appear while running)."""
        now = time.monotonic()
        if now - self._cards_read_at > CARDS_REFRESH_S:
            self._cards = model_cards()
            self._cards_read_at = now
        return self._cards

    def fps(self) -> float:
        if len(self.frame_times) < 2:
            return 0.0
        return (len(self.frame_times) - 1) / max(1e-9, self.frame_times[-1] - self.frame_times[0])
