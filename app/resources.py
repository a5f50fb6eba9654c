"""Where the app's shipped files are: shaders, models, model specs and assets."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHADER_DIR = ROOT / "shaders"
MODEL_DIR = ROOT / "models"
ASSET_DIR = ROOT / "assets"
