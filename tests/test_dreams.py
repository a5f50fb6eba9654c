import json

import cv2
import numpy as np
import pytest
import torch

from app.analysis.dreams import dream_end_frames, frame_figures, spectral_slope
from app.commands.main import main
from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
from app.models.checkpoint import load, save
from app.sources.fit import fit_square
from app.sources.photos import bundled_photos

SIZE = 256


@pytest.fixture(scope="module")
def photo_slopes():
    """(photo, σ=2 px blur of it) slopes of every bundled photo, as gray frames at 256²."""
    slopes = {}
    for name, photo in bundled_photos().items():
        frame = fit_square(photo, SIZE).astype(np.float64) / 255
        blurred = cv2.GaussianBlur(frame, (0, 0), 2.0)
        slopes[name] = (spectral_slope(frame), spectral_slope(blurred))
    return slopes


def test_photos_have_the_slope_of_natural_images(photo_slopes):
    sharp = np.array([s for s, _ in photo_slopes.values()])
    assert -3.0 <= np.median(sharp) <= -2.5, photo_slopes
    assert ((sharp > -3.5) & (sharp < -2.0)).all(), photo_slopes


def test_blurred_photos_fall_far_below_natural(photo_slopes):
    blurred = np.array([b for _, b in photo_slopes.values()])
    assert np.median(blurred) < -10, photo_slopes
    # the retina's bright disc on black gives the most edge power left after blurring
    assert (blurred < -9.5).all(), photo_slopes


def test_white_noise_is_flat():
    rng = np.random.default_rng(0)
    slopes = [spectral_slope(rng.random((SIZE, SIZE, 3))) for _ in range(3)]
    assert all(abs(s) < 0.2 for s in slopes), slopes


def test_slope_follows_a_synthetic_power_law():
    """Noise shaped to power ∝ f^-3 comes out at -3."""
    rng = np.random.default_rng(1)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(SIZE), np.fft.fftfreq(SIZE))) * SIZE
    amplitude = np.where(f > 0, f, 1.0) ** -1.5
    field = np.fft.ifft2(amplitude * np.fft.fft2(rng.standard_normal((SIZE, SIZE)))).real
    assert spectral_slope(field) == pytest.approx(-3.0, abs=0.25)


def test_figures_reject_flat_saturated_and_broken_frames():
    flat = frame_figures(np.full((64, 64, 3), 0.5))
    assert flat.std == 0 and not flat.passes
    saturated = frame_figures((np.random.default_rng(0).random((64, 64, 3)) > 0.5).astype(float))
    assert saturated.saturated == 1.0 and not saturated.passes
    broken = np.full((64, 64, 3), 0.5)
    broken[3, 4, 1] = np.nan
    assert not frame_figures(broken).finite and not frame_figures(broken).passes


def test_a_photo_passes_every_figure():
    frame = fit_square(bundled_photos()["astronaut"], SIZE).astype(np.float64) / 255
    figures = frame_figures(frame)
    assert figures.passes, figures


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "random-tiny.safetensors"
    return save(ConvAutoencoder(AutoencoderConfig((4, 8))), path, {"description": "untrained, for tests"})


def test_dreams_run_through_the_engine(random_model):
    from app.gl.context import headless_context

    ctx = headless_context()
    try:
        frames = dream_end_frames(ctx, load(str(random_model)), 32, 4, [0, 1], progress=False)
    finally:
        ctx.release()
    assert [f.shape for f in frames] == [(32, 32, 3)] * 2
    assert all(np.isfinite(f).all() and 0 <= f.min() and f.max() <= 1 for f in frames)
    assert not np.allclose(frames[0], frames[1])  # the seed sets the starting noise


def test_dreamcheck_prints_figures_and_writes_frames(random_model, tmp_path, capsys):
    out = tmp_path / "check"
    code = main(["dreamcheck", "--model", str(random_model), "--size", "32", "--steps", "3", "--seeds", "2",
                 "--device", "cpu", "--out", str(out), "--json", str(out / "figures.json")])
    printed = capsys.readouterr().out
    assert code in (0, 1)
    assert "validation PSNR at 256²" in printed and "slope" in printed
    figures = json.loads((out / "figures.json").read_text())
    assert figures["seeds"] == [0, 1] and len(figures["frames"]) == 2
    assert figures["all_pass"] == (code == 0)
    png = cv2.imread(str(out / "random-tiny-dreams-32px-3steps.png"))
    assert png is not None and png.shape[0] == 32 and png.shape[1] > 64


def test_dreamcheck_rejects_a_size_the_model_cannot_take(tmp_path, capsys):
    deep = save(ConvAutoencoder(AutoencoderConfig((2, 2, 2, 2, 2))), tmp_path / "deep.safetensors")
    code = main(["dreamcheck", "--model", str(deep), "--size", "48", "--steps", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "multiple of" in err
