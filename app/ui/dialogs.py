"""The system's own open-file dialog (portable-file-dialogs: zenity or kdialog on Linux, the native one
on macOS and Windows), run beside the loop and polled once a frame, so the dream never waits for it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from imgui_bundle import portable_file_dialogs as pfd

LINUX_PROGRAMS = ("zenity", "kdialog", "qarma", "matedialog")
VIDEO_AND_IMAGES = ["Videos and images", "*.mp4 *.mov *.mkv *.avi *.webm *.gif *.png *.jpg *.jpeg *.bmp *.tif *.tiff",
                    "All files", "*"]
MODELS = ["Models", "*.safetensors", "All files", "*"]
PRESETS = ["Presets", "*.json", "All files", "*"]


def unavailable() -> str:
    """Why no dialog can open here, or "" where one can."""
    if sys.platform.startswith("linux") and not any(shutil.which(p) for p in LINUX_PROGRAMS):
        return "no file dialog program (install zenity or kdialog); type the path in the box instead"
    return ""


class FileDialog:
    """At most one open dialog; ``poll`` returns what it was for and the chosen path once it closes."""

    def __init__(self):
        self._dialog = None
        self._purpose = ""

    @property
    def open(self) -> bool:
        return self._dialog is not None

    def ask(self, purpose: str, title: str, filters: list[str], start: Path | None = None,
            folder: bool = False) -> str:
        """Open a dialog to choose a file (or a folder); returns "" or the line why none opened."""
        problem = unavailable()
        if problem or self._dialog is not None:
            return problem
        default = str(start or Path.home())
        self._dialog = pfd.select_folder(title, default) if folder else pfd.open_file(title, default, filters)
        self._purpose = purpose
        return ""

    def poll(self) -> tuple[str, str] | None:
        """(purpose, path) when the dialog closed on a choice; None while open, cancelled or idle."""
        if self._dialog is None or not self._dialog.ready(0):
            return None
        result, purpose = self._dialog.result(), self._purpose
        self._dialog = None
        path = result if isinstance(result, str) else (result[0] if result else "")
        return (purpose, path) if path else None

    def close(self) -> None:
        if self._dialog is not None:
            self._dialog.kill()
            self._dialog = None
