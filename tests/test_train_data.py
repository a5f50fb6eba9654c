"""Training data beyond the bundled photos: the photo library, the photo film made of it, and what
``train ae --data`` accepts by name (photos, sample, several joined by +)."""

import re

import cv2
import numpy as np
import pytest

from app.commands.main import main
from app.resources import ASSET_DIR
from app.sources.photos import (LIBRARY_PHOTO_FILES, PHOTO_DIR, PHOTO_FILES, VALIDATION_PHOTOS, WALLPAPER_DIR,
                                library_photos, training_photos)
from app.train import data
from app.train.photo_motion import PhotoFilm

COLOURS = {"red": (200, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 200), "yellow": (220, 210, 40)}
TINY = ["--widths", "4,8", "--size", "32", "--batch", "2", "--dream-pool", "4", "--check-seeds", "0",
        "--device", "cpu"]


def coloured_photos() -> dict[str, np.ndarray]:
    """Photos of one colour each, with a soft texture so that a pan shows in the pixels."""
    rng = np.random.default_rng(0)
    photos = {}
    for i, (name, colour) in enumerate(COLOURS.items()):
        h, w = (90, 140) if i % 2 else (150, 100)
        texture = cv2.GaussianBlur(rng.normal(0, 40, (h, w)).astype(np.float32), (0, 0), 3)[..., None]
        photos[name] = np.clip(np.array(colour, np.float32) + texture, 0, 255).astype(np.uint8)
    return photos


def dominant(frame: np.ndarray) -> str:
    mean = frame.reshape(-1, 3).mean(axis=0)
    return min(COLOURS, key=lambda name: np.abs(mean - COLOURS[name]).sum())


def per_frame_change(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change between neighbouring frames, in fractions of the pixel range."""
    return np.abs(np.diff(frames.astype(np.float32) / 255, axis=0)).mean(axis=(1, 2, 3))


# ---- the library ------------------------------------------------------------------------------
def test_the_library_is_every_shipped_photo_but_the_validation_ones():
    library = library_photos()
    wallpapers = sorted(WALLPAPER_DIR.glob("*.jpg"))
    assert len(wallpapers) >= 40
    assert set(library) == set(training_photos()) | set(LIBRARY_PHOTO_FILES) | {p.stem for p in wallpapers}
    assert not set(library) & set(VALIDATION_PHOTOS)
    for name, photo in library.items():
        assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8, name
        assert min(photo.shape[:2]) >= 256, name
        assert photo.std() > 15, name  # real picture content, not a flat placeholder


def test_the_wallpapers_stay_small():
    files = list(WALLPAPER_DIR.glob("*.jpg"))
    assert sum(f.stat().st_size for f in files) < 8_000_000
    for f in files:
        image = cv2.imread(str(f))
        assert max(image.shape[:2]) <= 1024, f.name


def test_every_shipped_photo_is_listed_with_its_licence():
    readme = (ASSET_DIR / "README.md").read_text()
    listed = set(re.findall(r"^\| `([\w.-]+\.(?:png|jpg))` \|", readme, flags=re.M))
    shipped = {*PHOTO_FILES.values(), *LIBRARY_PHOTO_FILES.values()}
    on_disk = {p.name for p in PHOTO_DIR.iterdir()} | {p.name for p in WALLPAPER_DIR.glob("*.jpg")}
    assert shipped <= {p.name for p in PHOTO_DIR.iterdir()}
    assert listed == on_disk, (sorted(on_disk - listed), sorted(listed - on_disk))


# ---- the photo film -----------------------------------------------------------------------------
def test_the_film_is_the_same_for_a_seed_and_another_for_another():
    photos = coloured_photos()
    one, again, other = (PhotoFilm(photos, 40, 32, seed=s, scene_frames=30, fade_frames=6) for s in (1, 1, 2))
    indices = [0, 7, 29, 31, 95, 130]
    assert all(np.array_equal(one.frame(i), again.frame(i)) for i in indices)
    assert not all(np.array_equal(one.frame(i), other.frame(i)) for i in indices)
    assert one.frame(7).shape == (32, 40, 3) and one.frame(7).dtype == np.uint8


def test_the_film_moves_slowly_and_never_cuts():
    film = PhotoFilm(coloured_photos(), 48, 48, seed=0, scene_frames=50, fade_frames=16)
    frames = np.stack([film.frame(i) for i in range(2 * film.pass_frames)])
    change = per_frame_change(frames)
    assert 0.0005 < change.mean() < 0.02, change.mean()
    assert change.min() > 0, "a frame repeats the one before: the camera stood still"
    # a cut between two of these photos changes a pixel by 0.25 of the range at the least (red to yellow)
    assert change.max() < 0.125, change.max()


def test_each_pass_shows_every_photo():
    photos = coloured_photos()
    film = PhotoFilm(photos, 24, 24, seed=3, scene_frames=20, fade_frames=5)
    orders = []
    for first in (0, film.pass_frames):
        middles = range(first + 7, first + film.pass_frames, film.scene_frames)  # between the fades
        orders.append([dominant(film.frame(i)) for i in middles])
        assert sorted(orders[-1]) == sorted(COLOURS)
    assert orders[0] != orders[1], "the second pass repeats the first"


def test_the_film_of_the_library_moves_slowly():
    film = PhotoFilm(library_photos(), 64, 64, seed=0)
    frames = np.stack([film.frame(i) for i in range(2 * film.scene_frames + 10)])  # two cross-fades
    change = per_frame_change(frames)
    assert 0.001 < change.mean() < 0.02 and change.max() < 0.05, (change.mean(), change.max())


def test_the_training_film_covers_the_library(monkeypatch):
    monkeypatch.setattr(data, "library_photos", coloured_photos)
    monkeypatch.setattr(data, "FILM_FRAMES", 24)
    frames = data.photo_film(seed=5)
    assert len(frames.frames) == 24 and frames.frames[0].shape == (data.MAX_FRAME_SIDE, data.MAX_FRAME_SIDE, 3)
    assert {dominant(f) for f in frames.frames} == set(COLOURS)
    assert "4 photos" in frames.description and "seed 5" in frames.description


# ---- --data by name -----------------------------------------------------------------------------
def test_photos_and_sample_together(monkeypatch):
    monkeypatch.setattr(data, "library_photos", coloured_photos)
    monkeypatch.setattr(data, "FILM_FRAMES", 12)
    both = data.from_spec("photos+sample", batch=4)
    clip = data.from_spec("sample", batch=4)
    assert len(both.frames) == 12 + len(clip.frames) and len(clip.frames) >= 200
    assert both.description.startswith("12 frames of a film") and "sample clip" in both.description
    assert clip.frames[0].shape == (256, 256, 3)


def test_paths_join_and_a_path_with_a_plus_is_one_path(tmp_path):
    folders = [tmp_path / "before+after", tmp_path / "first", tmp_path / "second"]
    for folder in folders:
        folder.mkdir()
        for i in range(3):
            cv2.imwrite(str(folder / f"{i}.png"), np.full((40, 50, 3), 60 * i, np.uint8))
    assert len(data.from_spec(str(folders[0]), batch=2).frames) == 3
    assert len(data.from_spec(f"{folders[1]}+{folders[2]}", batch=2).frames) == 6


def test_train_ae_on_photos_records_the_film(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(data, "library_photos", coloured_photos)
    monkeypatch.setattr(data, "FILM_FRAMES", 8)
    models = tmp_path / "models"
    assert main(["train", "ae", "--data", "photos", "--steps", "2", *TINY, "--models-dir", str(models),
                 "--runs-dir", str(tmp_path / "runs"), "--name", "film"]) == 0
    card = json.loads((models / "film.json").read_text())
    assert "8 frames of a film" in json.dumps(card) and "--data photos" in card["command"]


@pytest.mark.parametrize("spec, words", [
    ("photos++sample", "is empty"),
    ("photos+", "is empty"),
    ("", "is empty"),
    ("photos+nowhere.mp4", "no such file"),
])
def test_bad_data_names_are_one_line(tmp_path, capsys, spec, words):
    code = main(["train", "ae", "--data", spec, "--runs-dir", str(tmp_path / "runs"), *TINY[:4]])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err, err


def test_a_missing_sample_clip_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(data, "SAMPLE_CLIP", tmp_path / "gone.mp4")
    code = main(["train", "ae", "--data", "sample", "--runs-dir", str(tmp_path / "runs"), *TINY[:4]])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "sample clip is missing" in err, err
