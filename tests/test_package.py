"""The package as it installs: light command modules, the user's folders, model lookup across the user's
and the shipped models, the photos without scikit-image/scikit-learn, and a wheel that carries the
shipped files. (`.ci/check-wheel` installs that wheel into a fresh venv and records from it.)"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from conftest import ROOT

HEAVY = ("torch", "numpy", "cv2", "moderngl", "tqdm", "matplotlib", "av", "glfw", "imgui_bundle", "safetensors")


def python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_building_the_parser_imports_nothing_heavy():
    """`hypnagogia --help` builds every command's parser; none may load torch, numpy, OpenCV or GL."""
    done = python("import sys\n"
                  "from app.commands.main import build_parser\n"
                  "build_parser().format_help()\n"
                  f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"building the parser imported {done.stdout.strip()}"


def test_help_and_version_answer():
    done = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "COMMAND" in done.stdout, done.stderr
    done = subprocess.run([sys.executable, "-m", "app", "--version"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("hypnagogia "), done.stderr


def test_the_photos_need_neither_scikit_package():
    done = python("import sys\n"
                  "from app.sources.photos import bundled_photos\n"
                  "photos = bundled_photos()\n"
                  "print(len(photos), *(m for m in ('sklearn', 'skimage', 'scipy', 'matplotlib') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["11"]


def test_user_folders_follow_hypnagogia_home(tmp_path, monkeypatch):
    from app import resources

    monkeypatch.setenv("HYPNAGOGIA_HOME", str(tmp_path))
    assert resources.user_models_dir() == tmp_path / "models"
    assert resources.runs_dir() == tmp_path / "runs"
    assert resources.presets_dir() == tmp_path / "presets"
    assert resources.captures_dir() == tmp_path / "captures"
    assert resources.model_dirs() == [tmp_path / "models", resources.MODEL_DIR]
    assert not (tmp_path / "models").exists(), "naming a folder must not create it"
    monkeypatch.delenv("HYPNAGOGIA_HOME")
    assert "hypnagogia" in resources.user_models_dir().parts and "hypnagogia" in resources.captures_dir().parts


def test_shipped_folders_hold_the_shipped_files():
    from app.resources import ASSET_DIR, MODEL_DIR, SHADER_DIR

    assert (SHADER_DIR / "rules" / "general.glsl").is_file()
    assert (MODEL_DIR / "ae-tiny-smooth.safetensors").is_file() and (MODEL_DIR / "specs" / "pvm-small.json").is_file()
    assert (ASSET_DIR / "sample.mp4").is_file() and (ASSET_DIR / "photos" / "flower.jpg").is_file()


def _tiny_model(description: str, path: Path) -> Path:
    from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
    from app.models.checkpoint import save

    torch.manual_seed(0)
    return save(ConvAutoencoder(AutoencoderConfig(widths=(4, 8))), path, {"description": description})


def test_user_models_are_found_before_the_shipped_ones(tmp_path, monkeypatch):
    from app.errors import UserError
    from app.models.checkpoint import list_models, load, model_cards, resolve
    from app.resources import MODEL_DIR

    monkeypatch.setenv("HYPNAGOGIA_HOME", str(tmp_path))
    mine = _tiny_model("mine", tmp_path / "models" / "mine.safetensors")
    clash = _tiny_model("the user's ae-tiny-smooth", tmp_path / "models" / "ae-tiny-smooth.safetensors")
    assert resolve("mine") == mine and resolve("ae-tiny-smooth") == clash
    assert resolve("pvm-small") == MODEL_DIR / "pvm-small.safetensors"
    names = list_models()
    assert {"mine", "ae-tiny-smooth", "pvm-small"} <= set(names) and names.count("ae-tiny-smooth") == 1
    cards = model_cards()
    assert cards["ae-tiny-smooth"]["description"] == "the user's ae-tiny-smooth"
    assert cards["mine"]["description"] == "mine" and cards["pvm-small"]["architecture"]["kind"] == "pvm"
    assert load("mine").path == mine
    # a folder given explicitly is the only one searched
    assert list_models(tmp_path / "models") == ["ae-tiny-smooth", "mine"]
    with pytest.raises(UserError, match="no model named 'pvm-small'"):
        resolve("pvm-small", tmp_path / "models")


def test_the_default_models_dream_as_their_dreamchecks_measured():
    """ae-tiny-smooth on the CPU and ae-smooth-256 on a GPU, each with the dream of its card."""
    from app.loop.session import default_model
    from app.models.checkpoint import load

    assert default_model(torch.device("cpu")) == "ae-tiny-smooth"
    assert default_model(torch.device("cuda")) == "ae-smooth-256"
    defaults = load("ae-tiny-smooth").defaults
    assert (defaults["motion"], defaults["fatigue"], defaults["general.persistence"]) == (0.65, 0.2, 0.3)
    defaults = load("ae-smooth-256").defaults
    assert (defaults["motion"], defaults["fatigue"], defaults["general.persistence"], defaults["wander"]) == \
        (0.65, 0.25, 0.3, 0.3)


def test_train_exports_to_the_user_models_folder_by_default(tmp_path, monkeypatch, capsys):
    from app.commands.main import main
    from app.models.checkpoint import resolve

    monkeypatch.setenv("HYPNAGOGIA_HOME", str(tmp_path / "home"))
    tiny = ["--widths", "4,8", "--size", "32", "--batch", "2", "--dream-pool", "4", "--check-seeds", "0",
            "--device", "cpu", "--steps", "2", "--name", "mine"]
    assert main(["train", "ae", *tiny]) == 0
    exported = tmp_path / "home" / "models" / "mine.safetensors"
    assert exported.is_file() and exported.with_suffix(".json").is_file()
    assert (tmp_path / "home" / "runs" / "mine" / "state.pt").is_file()
    assert resolve("mine") == exported
    assert str(exported) in capsys.readouterr().out


def test_the_wheel_carries_the_shipped_files(tmp_path):
    """`pip wheel` of a copy of the checkout (the build's scratch files stay out of the tree)."""
    pytest.importorskip("setuptools")
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    for name in ("app", "shaders", "models", "assets"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(tree)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    wheel, = (tmp_path / "dist").glob("hypnagogia-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"app/_shipped/{p.relative_to(ROOT).as_posix()}"
               for folder, pattern in (("shaders", "**/*.glsl"), ("models", "*.safetensors"), ("models", "*.json"),
                                       ("models", "specs/*.json"), ("assets", "sample.mp4"), ("assets", "photos/*"),
                                       ("assets", "wallpapers/*.jpg"), ("assets", "wallpapers/licenses/*"))
               for p in (ROOT / folder).glob(pattern)}
    assert len(shipped) > 30
    assert not shipped - names, f"missing from the wheel: {sorted(shipped - names)}"
    assert {"app/__init__.py", "app/resources.py", "app/commands/main.py"} <= names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    assert any("platformdirs" in r for r in requires)
    assert not any(("scikit" in r or "scipy" in r) and "extra ==" not in r for r in requires), requires
