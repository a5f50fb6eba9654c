"""Packaging beyond pyproject.toml: the wheel carries the repository's top-level ``shaders/``,
``models/`` and ``assets/`` folders as package data, at ``app/_shipped/<folder>/`` (where
``app.resources`` looks for them in an installed package; a checkout reads them in place)."""

from setuptools import find_packages, setup

SHIPPED = {
    "shaders": ["**/*.glsl"],
    "models": ["*.safetensors", "*.json", "specs/*.json"],
    "assets": ["*.mp4", "*.md", "photos/*.png", "photos/*.jpg", "wallpapers/*.jpg", "wallpapers/licenses/*.txt",
               "presets/*.json", "presets/*.png"],
}

setup(
    packages=find_packages(include=["app", "app.*"]) + [f"app._shipped.{folder}" for folder in SHIPPED],
    package_dir={f"app._shipped.{folder}": folder for folder in SHIPPED},
    package_data={f"app._shipped.{folder}": patterns for folder, patterns in SHIPPED.items()},
)
