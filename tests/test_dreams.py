"""Dream figures: the spectrum's slope and periodic peaks, clipping, one-colour fields, motion and
looks; the photos as the reference; and ``dreamcheck`` through the real engine, failing models broken
on purpose (``tests/kinds/striped_ae``) and passing one that dreams as a viewer wants
(``tests/kinds/panning_photos``)."""

import json
import sys

import cv2
import numpy as np
import pytest
import torch

import app.models
from app.analysis.dream_runs import time_points
from app.analysis.dreams import dream_end_frames, frame_figures
from app.analysis.looks import clipped_fraction, look_figures, one_colour_fraction
from app.analysis.motion import look_groups, motion_figures, motion_window
from app.analysis.reference import REFERENCE_PHOTOS, measure_reference
from app.analysis.spectrum import periodic_peak, spectral_slope
from app.commands.main import main
from app.models import kinds
from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
from app.models.checkpoint import load, save
from app.sources.fit import fit_square
from app.sources.photos import bundled_photos
from conftest import ROOT

SIZE = 256


def photo(name: str, size: int = SIZE) -> np.ndarray:
    return fit_square(bundled_photos()[name], size).astype(np.float64) / 255


def stripes(size: int, period: float, amplitude: float) -> np.ndarray:
    """(size, size, 3): diagonal stripes around 0, the same in every channel."""
    y, x = np.indices((size, size))
    return np.repeat((amplitude * np.cos(2 * np.pi * (x + y) / period))[..., None], 3, axis=2)


# ---- the spectrum ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def photo_slopes():
    """(photo, σ=2 px blur of it) slopes of every bundled photo, as gray frames at 256²."""
    slopes = {}
    for name in REFERENCE_PHOTOS:
        frame = photo(name)
        slopes[name] = (spectral_slope(frame), spectral_slope(cv2.GaussianBlur(frame, (0, 0), 2.0)))
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


def test_photos_have_the_periodic_peaks_of_natural_images():
    """The photos' strongest high-frequency peaks stand 10^1 to 10^3 over their rings (10^1.3–10^2.8
    at 512²); white noise's, about 10^1."""
    peaks = {name: periodic_peak(photo(name)) for name in REFERENCE_PHOTOS}
    assert all(1.0 <= p <= 3.0 for p in peaks.values()), peaks
    assert periodic_peak(np.random.default_rng(0).random((SIZE, SIZE, 3))) < 1.5


@pytest.mark.parametrize("period", [2, 3, 4])
def test_faint_stripes_on_a_photo_make_a_peak_far_beyond_the_photos(period):
    """Stripes of ±8 grey levels (3% of the range) on the cat stand out by 10^4 and more."""
    clean = photo("chelsea")
    striped = np.clip(clean + stripes(SIZE, period, 8 / 255), 0, 1)
    assert periodic_peak(clean) < 2
    assert periodic_peak(striped) > 4


def test_a_checkerboard_at_the_corner_frequency_is_a_peak():
    checks = np.indices((SIZE, SIZE)).sum(axis=0) % 2 * 0.02
    frame = photo("coffee") * 0.96 + checks[..., None]
    assert periodic_peak(frame) > 4


def test_a_flat_frame_has_no_peak_whatever_its_float_noise():
    rng = np.random.default_rng(2)
    assert periodic_peak(np.full((SIZE, SIZE, 3), 0.5)) == 0
    assert periodic_peak(0.5 + stripes(SIZE, 4, 1e-7)) == 0
    assert periodic_peak(0.5 + 1e-7 * rng.standard_normal((SIZE, SIZE, 3))) == 0


# ---- the looks ---------------------------------------------------------------------------

def test_clipping_counts_pixels_with_any_channel_at_an_end():
    frame = np.full((8, 8, 3), 0.5)
    frame[0, :, 0] = 1.0               # a row of pure red on grey
    frame[1, :4, 2] = 0.001            # half a row with no blue left once in 8 bits
    frame[2, :, 1] = 0.003             # still 1/255 when shown
    assert clipped_fraction(frame) == pytest.approx(12 / 64)


def test_a_saturated_field_with_stripes_is_clipped_and_one_colour():
    """The failure the retired ae-natural showed at 512²: an orange-red field covered in diagonal stripes."""
    field = np.clip(np.array([1.0, 0.35, 0.0]) + stripes(SIZE, 6, 0.1), 0, 1)
    figures = look_figures(field)
    assert figures.clipped > 0.9 and figures.one_colour == 1.0 and figures.periodic > 4


def test_photos_are_many_coloured_but_the_black_sky():
    shares = {name: one_colour_fraction(photo(name)) for name in REFERENCE_PHOTOS}
    assert max(s for name, s in shares.items() if name != "hubble_deep_field") < 0.75, shares
    assert shares["hubble_deep_field"] > 0.9, shares


def test_every_photo_is_a_look_of_its_own_and_noise_does_not_change_it():
    frames = [photo(name, 128) for name in REFERENCE_PHOTOS]
    assert look_groups(frames) == list(range(len(frames)))
    rng = np.random.default_rng(3)
    noisy = [np.clip(f + rng.normal(0, 0.1, f.shape), 0, 1) for f in frames[:3]]
    assert look_groups(frames[:3] + noisy) == [0, 1, 2, 0, 1, 2]


def test_card_figures_reject_flat_saturated_and_broken_frames():
    flat = frame_figures(np.full((64, 64, 3), 0.5))
    assert flat.std == 0 and not flat.passes
    saturated = frame_figures((np.random.default_rng(0).random((64, 64, 3)) > 0.5).astype(float))
    assert saturated.saturated == 1.0 and not saturated.passes
    broken = np.full((64, 64, 3), 0.5)
    broken[3, 4, 1] = np.nan
    assert not frame_figures(broken).finite and not frame_figures(broken).passes
    assert not look_figures(broken).finite
    assert frame_figures(photo("astronaut")).passes


# ---- motion --------------------------------------------------------------------------------

def test_the_motion_window_is_the_last_thousand_steps_or_the_last_third():
    assert [motion_window(s) for s in (1, 2, 300, 3000, 10000)] == [1, 1, 100, 1000, 1000]
    assert time_points(3000) == [0, 10, 100, 1000, 2000, 3000]
    assert time_points(450) == [0, 10, 100, 300, 450]
    assert time_points(2) == [0, 1, 2]


def test_motion_reads_the_window_only():
    changes = np.r_[np.full(200, 0.5), np.full(100, 0.01)]
    before, after = np.zeros((4, 4, 3)), np.full((4, 4, 3), 0.2)
    motion = motion_figures(changes, before, after)
    assert motion.window == 100
    assert motion.mean_change == pytest.approx(0.01) and motion.max_change == pytest.approx(0.01)
    assert motion.drift == pytest.approx(0.2)


# ---- the reference ------------------------------------------------------------------------

@pytest.mark.parametrize("size", [128, 512])
def test_the_sample_clip_lies_within_the_photos_periodic_limit(size):
    """The limit comes from the photos alone; the clip's frames, measured the same way, stay under it."""
    reference = measure_reference(size)
    assert list(reference.photos) == list(REFERENCE_PHOTOS) and len(reference.clip) == 8
    assert reference.periodic_limit == pytest.approx(reference.photos_range("periodic")[1] + 0.5)
    assert max(f.periodic for f in reference.clip.values()) < reference.periodic_limit


# ---- through the engine -------------------------------------------------------------------

@pytest.fixture(scope="module")
def test_kinds():
    """The models package's search path with the test kinds on it."""
    path = app.models.__path__
    app.models.__path__ = [*path, str(ROOT / "tests" / "kinds")]
    kinds.rediscover()
    yield kinds
    app.models.__path__ = path
    kinds.rediscover()
    for name in [m for m in sys.modules if m.startswith(("app.models.striped_ae", "app.models.panning_photos"))]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def checkpoints(test_kinds, tmp_path_factory):
    """Models broken on purpose, one that dreams well, and that one too still and too fast."""
    folder = tmp_path_factory.mktemp("dreamers")

    def striped_ae(name, **faults):
        torch.manual_seed(0)
        model = test_kinds.get_kind("striped-ae").build({"widths": [8, 16], **faults})
        return save(model, folder / name, {"description": "broken on purpose, for tests"})

    def panning(name, speed):
        model = test_kinds.get_kind("panning-photos").build({"speed": speed})
        return save(model, folder / name, {"description": "a slow pan over the photos, for tests"})

    return {"striped": striped_ae("striped", stripes=4.0), "saturated": striped_ae("saturated", saturation=8.0),
            "good": panning("good", 0.08), "still": panning("still", 0.0), "boiling": panning("boiling", 1.0)}


def dreamcheck(model, out, *extra):
    return main(["dreamcheck", "--model", str(model), "--size", "64", "--steps", "120", "--seeds", "4",
                 "--device", "cpu", "--out", str(out), *extra])


def checks_of(out, name: str) -> dict[str, bool]:
    figures = json.loads((out / f"{name}-dreamcheck.json").read_text())
    return {c["name"]: c["passed"] for start in figures["sizes"][0]["starts"] for c in start["checks"]}


def test_dreamcheck_passes_a_model_that_dreams_well(checkpoints, tmp_path, capsys):
    code = dreamcheck(checkpoints["good"], tmp_path, "--start", "both")
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "FAIL" not in printed and "good: every check passed" in printed
    figures = json.loads((tmp_path / "good-dreamcheck.json").read_text())
    size = figures["sizes"][0]
    assert [s["start"] for s in size["starts"]] == ["noise", "sample"]
    assert size["thresholds"]["clipped"] == 0.05 and size["thresholds"]["looks"] == 2
    assert list(size["reference"]["photos"]) == list(REFERENCE_PHOTOS)
    dream = size["starts"][0]["dreams"][0]
    assert {"periodic", "clipped", "one_colour", "mean_change", "max_change", "drift", "look"} <= set(dream)
    assert 0.002 <= dream["mean_change"] <= 0.02 and dream["window"] == 40
    sheet = cv2.imread(str(tmp_path / "good-64px-sample.png"))
    assert sheet.shape[0] > 4 * 96 and sheet.shape[1] > len(time_points(120)) * 96


def test_dreamcheck_fails_a_striped_decoder_on_its_periodic_peaks(checkpoints, tmp_path, capsys):
    code = dreamcheck(checkpoints["striped"], tmp_path, "--start", "noise")
    printed = capsys.readouterr().out
    assert code == 1
    assert "FAIL striped 64² from noise: periodic: seeds 0, 1, 2, 3: periodic peak up to 10^" in printed
    assert not checks_of(tmp_path, "striped")["periodic"]


def test_dreamcheck_fails_a_saturating_decoder_on_clipping(checkpoints, tmp_path, capsys):
    assert dreamcheck(checkpoints["saturated"], tmp_path, "--start", "noise") == 1
    checks = checks_of(tmp_path, "saturated")
    assert not checks["clipping"] and not checks["one-colour field"]
    assert checks["periodic"]            # a flat field has no stripes


def test_dreamcheck_fails_a_dream_that_stands_still_and_one_that_boils(checkpoints, tmp_path, capsys):
    assert dreamcheck(checkpoints["still"], tmp_path, "--start", "noise") == 1
    still = checks_of(tmp_path, "still")
    assert not still["death"] and not still["drift"] and not still["stillness"] and still["boiling"]
    assert dreamcheck(checkpoints["boiling"], tmp_path, "--start", "noise") == 1
    boiling = checks_of(tmp_path, "boiling")
    assert not boiling["boiling"] and boiling["death"] and boiling["periodic"]
    assert "FAIL boiling 64² from noise: boiling: " in capsys.readouterr().out


def test_dreamcheck_films_the_first_dream(checkpoints, tmp_path, capsys):
    assert dreamcheck(checkpoints["good"], tmp_path, "--start", "sample", "--seeds", "1", "--video",
                      "--steps", "30") in (0, 1)
    import av
    with av.open(str(tmp_path / "good-64px-sample-seed0.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 30


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "random-tiny.safetensors"
    return save(ConvAutoencoder(AutoencoderConfig((4, 8))), path, {"description": "untrained, for tests"})


def test_card_dreams_run_through_the_engine(random_model):
    from app.gl.context import headless_context

    ctx = headless_context()
    try:
        frames = dream_end_frames(ctx, load(str(random_model)), 32, 4, [0, 1], progress=False)
    finally:
        ctx.release()
    assert [f.shape for f in frames] == [(32, 32, 3)] * 2
    assert all(np.isfinite(f).all() and 0 <= f.min() and f.max() <= 1 for f in frames)
    assert not np.allclose(frames[0], frames[1])  # the seed sets the starting noise


def test_dreamcheck_of_an_autoencoder_writes_its_reconstructions(random_model, tmp_path, capsys):
    code = main(["dreamcheck", "--model", str(random_model), "--sizes", "32", "--steps", "3", "--seeds", "2",
                 "--start", "noise", "--device", "cpu", "--out", str(tmp_path), "--json", str(tmp_path / "f.json")])
    assert code in (0, 1)
    assert "validation PSNR at 256²" in capsys.readouterr().out
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["seeds"] == [0, 1] and figures["all_pass"] == (code == 0) and figures["psnr_db"] > 0
    assert cv2.imread(str(tmp_path / "random-tiny-reconstructions.png")) is not None


@pytest.mark.parametrize("args, needle", [
    (["--sizes", "48"], "multiple of"),
    (["--size", "64", "--sizes", "64"], "not both"),
])
def test_dreamcheck_refuses_sizes_in_one_line(tmp_path, capsys, args, needle):
    deep = save(ConvAutoencoder(AutoencoderConfig((2, 2, 2, 2, 2))), tmp_path / "deep.safetensors")
    code = main(["dreamcheck", "--model", str(deep), *args, "--steps", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and needle in err
