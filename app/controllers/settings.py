"""The user's settings that outlive a session (MIDI ports and mappings, …): one JSON file, a section
per controller, written whole through a temporary file so that a crash never leaves half of it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from app.resources import settings_path


class Settings:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else settings_path()
        self.problem = ""                 # why the file could not be read, if it could not
        self._data: dict[str, Any] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                if not isinstance(data, dict):
                    raise ValueError("it does not hold a JSON object")
                self._data = data
            except (OSError, ValueError) as e:
                self.problem = f"settings {self.path} unreadable ({e}); starting from defaults, it is rewritten " \
                               f"on the next change"

    def get(self, section: str, default: Any = None) -> Any:
        return self._data.get(section, default)

    def put(self, section: str, value: Any) -> str:
        """Store ``section`` and write the file; returns "" or the one line saying why it could not be written."""
        self._data[section] = value
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self._data, indent=2))
            os.replace(tmp, self.path)
        except OSError as e:
            return f"cannot save settings to {self.path}: {e.strerror or e}"
        return ""
