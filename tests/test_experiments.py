"""The seed experiments: their metrics on cases with known answers, their data, their models'
dynamics, and each command's quick run end to end through real subprocesses."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from app.experiments.inertia import InertiaConfig, InertiaVAE, circle_over_blob, evaluate, inertia
from app.experiments.metrics import energy_distance, mode_coverage
from app.experiments.rae_toy import MLPAutoencoder, chain, paraboloid, ring, ring_centres
from conftest import run_cli


def test_energy_distance_of_a_sample_with_itself_is_zero():
    a = np.random.default_rng(0).normal(size=(300, 3))
    assert energy_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_energy_distance_of_two_point_masses_is_twice_their_distance():
    a, b = np.zeros((10, 2)), np.tile([3.0, 4.0], (7, 1))
    assert energy_distance(a, b) == pytest.approx(10.0)


def test_energy_distance_of_a_diverged_sample_is_infinite():
    a = np.random.default_rng(0).normal(size=(20, 2))
    b = a.copy()
    b[3, 1] = np.nan
    assert energy_distance(a, b) == math.inf
    b[3, 1] = np.inf
    assert energy_distance(b, a) == math.inf


def test_energy_distance_of_shifted_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(1)
    n, shift = 4000, 1.0
    same = energy_distance(rng.normal(size=(n, 1)), rng.normal(size=(n, 1)))
    shifted = energy_distance(rng.normal(size=(n, 1)), rng.normal(shift, size=(n, 1)))
    # N(0, 1) against N(μ, 1): 2E|X−Y| − E|X−X'| − E|Y−Y'| with X−Y ~ N(−μ, 2), X−X' ~ N(0, 2).
    exact = 4 / math.sqrt(math.pi) * (math.exp(-shift ** 2 / 4) - 1) + 2 * shift * math.erf(shift / 2)
    assert shifted == pytest.approx(exact, abs=0.03)
    assert same < 0.01 < exact / 10


def test_mode_coverage_counts_seven_of_eight_modes():
    generator = torch.Generator().manual_seed(0)
    samples = ring(8000, generator, modes=8, radius=2.0, sigma=0.1)
    centres = ring_centres(8, 2.0)
    missing = torch.cdist(samples, centres).argmin(1) == 3
    coverage = mode_coverage(samples[~missing], centres, radius=0.2)
    assert coverage.covered == 7
    assert coverage.per_mode[3] == 0.0
    assert all(abs(f - 0.865 / 7) < 0.02 for i, f in enumerate(coverage.per_mode) if i != 3)
    assert coverage.near_any == pytest.approx(1 - math.exp(-2), abs=0.02)   # within 2σ in 2-D


def test_a_mode_needs_its_minimum_share_to_count():
    centres = np.array([[0.0, 0.0], [5.0, 0.0]])
    samples = np.concatenate([np.zeros((995, 2)), np.tile([5.0, 0.0], (5, 1))])
    assert mode_coverage(samples, centres, radius=0.5, min_fraction=0.01).covered == 1
    assert mode_coverage(samples, centres, radius=0.5, min_fraction=0.005).covered == 2
    assert mode_coverage(np.full((50, 2), 2.5), centres, radius=0.5).near_any == 0.0


def test_paraboloid_lies_on_its_surface_with_unit_gaussian_inputs():
    x = paraboloid(20000, torch.Generator().manual_seed(0))
    assert x.shape == (20000, 3)
    assert torch.allclose(x[:, 2], x[:, 0] ** 2 + x[:, 1] ** 2)
    assert x[:, :2].mean(0).abs().max() < 0.03
    assert (x[:, :2].std(0) - 1).abs().max() < 0.03
    assert x[:, 2].mean().item() == pytest.approx(2.0, abs=0.05)   # E[χ²₂] = 2


def test_ring_has_equal_modes_of_the_given_width():
    samples = ring(16000, torch.Generator().manual_seed(0), modes=8, radius=2.0, sigma=0.1)
    centres = ring_centres(8, 2.0)
    assert samples.shape == (16000, 2)
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    nearest = torch.cdist(samples, centres).argmin(1)
    counts = torch.bincount(nearest, minlength=8).float() / len(samples)
    assert (counts - 1 / 8).abs().max() < 0.015
    offsets = samples - centres[nearest]
    assert offsets.std(0).numpy() == pytest.approx([0.1, 0.1], abs=0.005)


def test_a_chain_without_noise_is_repeatable_and_with_noise_is_not():
    torch.manual_seed(0)
    model = MLPAutoencoder(3, 16, 6).eval()
    start = torch.randn(50, 6)
    end, recorded = chain(model, start, 5, 0.0, record=(0, 2))
    assert torch.equal(end, chain(model, start, 5, 0.0)[0])
    assert torch.equal(recorded[0], model.decode(start))
    assert sorted(recorded) == [0, 2]
    assert not torch.equal(chain(model, start, 5, 0.1)[0], chain(model, start, 5, 0.1)[0])


def test_sequences_show_a_circle_moving_linearly_over_a_static_blob():
    cfg = InertiaConfig()
    seq = circle_over_blob(64, cfg, torch.Generator().manual_seed(0))
    n, size = 64, cfg.size
    assert seq.frames.shape == (n, cfg.frames, 1, size, size)
    assert seq.frames.min() >= 0 and seq.frames.max() <= 1
    # Straight, uniform motion inside the frame, at least the minimum distance.
    assert (seq.circle[:, 2:] - 2 * seq.circle[:, 1:-1] + seq.circle[:, :-2]).abs().max() < 1e-4
    assert seq.circle.min() >= size / 8 and seq.circle.max() <= 7 * size / 8
    travel = (seq.circle[:, -1] - seq.circle[:, 0]).norm(dim=1)
    assert travel.min() >= 0.75 * cfg.min_travel * size - 1e-4
    # The circle is white and about π r² pixels; away from it the frame never changes.
    centre = seq.circle.round().long().clamp(0, size - 1)
    at_centre = seq.frames[torch.arange(n)[:, None], torch.arange(cfg.frames), 0, centre[..., 1], centre[..., 0]]
    assert (at_centre == 1).all()
    white = (seq.frames >= 0.999).sum(dim=(2, 3, 4)).float()
    assert white.median().item() == pytest.approx(math.pi * (cfg.circle_radius * size) ** 2, rel=0.4)
    coords = torch.arange(size) + 0.5
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    far = ((gx - seq.circle[..., 0, None, None]) ** 2 + (gy - seq.circle[..., 1, None, None]) ** 2
           > (cfg.circle_radius * size + 1) ** 2).all(dim=1)
    frames = seq.frames[:, :, 0]
    assert ((frames - frames[:, :1]).abs() * far[:, None]).max() == 0
    # The blob peaks at 0.8 at its centre.
    inside = ((seq.blob >= 0.5) & (seq.blob <= size - 0.5)).all(dim=1) & (
        (seq.blob[:, None] - seq.circle).norm(dim=2) > cfg.circle_radius * size + 2).all(dim=1)
    b = seq.blob[inside].long()
    peak = frames[inside, 0][torch.arange(len(b)), b[:, 1], b[:, 0]]
    assert peak.max() <= cfg.blob_peak and peak.min() > 0.95 * cfg.blob_peak


def test_inertia_at_zero_passes_the_encoding_and_at_one_holds_the_first_code():
    mu_enc = torch.randn(3, 10, 4)
    assert torch.equal(inertia(mu_enc, 0.0), mu_enc)
    held = inertia(mu_enc, 1.0)
    assert torch.allclose(held, mu_enc[:, :1].expand_as(held))


def test_inertia_settles_onto_a_linear_trajectory():
    t = torch.arange(40, dtype=torch.float32)[None, :, None]
    mu_enc = 1.0 + 0.5 * t
    error = (inertia(mu_enc, 0.5) - mu_enc).abs()[0, :, 0]
    assert error[1] > 0.1          # it starts at rest, behind the motion
    assert error[-1] < 1e-4        # then its extrapolation is exact: 2μ_t − μ_{t−1} on a line


def test_the_swap_measurement_sees_what_each_gamma_can_depend_on():
    torch.manual_seed(0)
    cfg = InertiaConfig()
    model = InertiaVAE(cfg.latents, cfg.size).eval()
    test = circle_over_blob(8, cfg, torch.Generator().manual_seed(0)).frames
    other = test.roll(1, dims=0)
    assert evaluate(model, 1.0, test, other).swap_change == 0.0
    assert evaluate(model, 0.0, test, other).swap_follow == 0.0
    middle = evaluate(model, 0.5, test, other)
    assert middle.swap_change > 0 and middle.swap_follow > 0


def test_rae_toy_quick_writes_its_tables_and_figures(tmp_path):
    out = tmp_path / "rae"
    result = run_cli("experiment", "rae-toy", "--quick", "--quiet", "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "rae_toy.json").read_text())
    assert data["quick"] is True and data["seconds"] > 0
    methods = {"true", "AE", "VAE", "AE+MC", "RAE", "VAE, learned σx"}
    for dataset in ("paraboloid", "ring"):
        scores = [s for s in data["scores"] if s["dataset"] == dataset]
        assert {s["method"] for s in scores} == methods
        assert all(math.isfinite(s["energy"]) and s["energy"] >= 0 for s in scores)
        assert set(data["chains"][dataset]) == {"AE+MC", "RAE"}
    ring_true = next(s for s in data["scores"] if s["dataset"] == "ring" and s["method"] == "true")
    assert ring_true["modes_covered"] == 8
    table = (out / "rae_toy.md").read_text()
    assert "| ring | RAE |" in table and "Run time" in table
    for name in ("rae_toy.png", "rae_toy_chains.png"):
        with Image.open(out / name) as image:
            assert image.width > 600 and image.height > 300


def test_inertia_quick_writes_its_tables_and_figures(tmp_path):
    out = tmp_path / "inertia"
    result = run_cli("experiment", "inertia", "--quick", "--quiet", "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "inertia.json").read_text())
    scores = {s["gamma"]: s for s in data["scores"]}
    assert sorted(scores) == [0.0, 0.5, 1.0]
    assert scores[1.0]["swap_change"] < 0.01
    assert scores[0.0]["swap_follow"] < 0.01 < scores[0.0]["swap_change"]
    assert all(len(s["per_frame_mse"]) == data["config"]["frames"] - 2 for s in scores.values())
    assert "| 0.5 |" in (out / "inertia.md").read_text()
    for name in ("inertia_predictions.png", "inertia_sweeps.png", "inertia_errors.png"):
        with Image.open(out / name) as image:
            assert image.width > 300


def test_an_output_path_that_is_a_file_is_one_line_error(tmp_path):
    taken = tmp_path / "file.txt"
    taken.write_text("x")
    result = run_cli("experiment", "inertia", "--quick", "--out", str(taken))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "is a file" in lines[0] and "Traceback" not in result.stderr
