"""Where the app's files are: what it ships (shaders, models, model specs, assets) and the user's folders.

The shipped folders live at the top of the repository (``shaders/``, ``models/``, ``assets/``). An
installed wheel carries them inside the package as ``app/_shipped/…`` (``setup.py`` maps them there);
a checkout or an editable install reads them from the repository.

The user's folders come from ``platformdirs`` (on Linux ``~/.local/share/hypnagogia/…`` and
``~/Pictures/hypnagogia``, on macOS ``~/Library/Application Support/hypnagogia/…`` and
``~/Pictures/hypnagogia``, on Windows ``%LOCALAPPDATA%\\hypnagogia\\…`` and the Pictures folder).
``HYPNAGOGIA_HOME=DIR`` puts all of them below DIR instead (``DIR/models``, ``DIR/runs``,
``DIR/presets``, ``DIR/captures``, ``DIR/settings.json``). The functions only name the folders; whoever writes creates them.

``HYPNAGOGIA_SHADERS=DIR`` reads the shaders (``DIR/composite.glsl``, ``DIR/rules/``, ``DIR/lib/``,
``DIR/views/``) from DIR instead of the shipped folder, e.g. from an edited copy of it.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "hypnagogia"
HOME_ENV = "HYPNAGOGIA_HOME"
SHADERS_ENV = "HYPNAGOGIA_SHADERS"

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent                       # the checkout (in an installed wheel: site-packages)
_SHIPPED = PACKAGE / "_shipped"
SHIPPED_ROOT = _SHIPPED if (_SHIPPED / "shaders").is_dir() else ROOT
SHADER_DIR = SHIPPED_ROOT / "shaders"       # the shipped shaders; shader_dir() is the folder in use
MODEL_DIR = SHIPPED_ROOT / "models"         # the shipped models; the user's own are in user_models_dir()
ASSET_DIR = SHIPPED_ROOT / "assets"
PRESET_DIR = ASSET_DIR / "presets"          # the curated presets; the user's own are in presets_dir()


def _home() -> Path | None:
    home = os.environ.get(HOME_ENV, "").strip()
    return Path(home).expanduser().absolute() if home else None


def shader_dir() -> Path:
    """The shaders in use: ``HYPNAGOGIA_SHADERS`` when set, else the shipped ones (read at every call)."""
    folder = os.environ.get(SHADERS_ENV, "").strip()
    return Path(folder).expanduser().absolute() if folder else SHADER_DIR


def _data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def user_models_dir() -> Path:
    """Models the user trained: ``train ae`` and ``train pvm`` export here unless given ``--models-dir``."""
    home = _home()
    return home / "models" if home else _data_dir() / "models"


def model_dirs() -> list[Path]:
    """Where a model name is looked up, first match wins: the user's models, then the shipped ones."""
    return [user_models_dir(), MODEL_DIR]


def runs_dir() -> Path:
    """Training runs, dream checks and experiments: one folder each, with pictures and resumable state."""
    home = _home()
    return home / "runs" if home else _data_dir() / "runs"


def presets_dir() -> Path:
    """The user's presets (saved parameter settings)."""
    home = _home()
    return home / "presets" if home else _data_dir() / "presets"


def settings_path() -> Path:
    """The user's settings that outlive a session (MIDI ports and mappings): one JSON file."""
    home = _home()
    return home / "settings.json" if home else platformdirs.user_config_path(APP_NAME, appauthor=False) / "settings.json"


def captures_dir() -> Path:
    """Screenshots, recordings and saved galleries of the window, unless given ``--captures``."""
    home = _home()
    return home / "captures" if home else platformdirs.user_pictures_path() / APP_NAME
