"""Hypnagogia: trained neural networks dreaming in real time."""

from pathlib import Path

__version__ = "0.1.0"

ROOT = Path(__file__).resolve().parent.parent
SHADER_DIR = ROOT / "shaders"
MODEL_DIR = ROOT / "models"
ASSET_DIR = ROOT / "assets"
