"""The attractor detector on dynamics whose answers are known."""

import numpy as np
import pytest

from app.analysis.attractors import CYCLE, FIXED_POINT, WANDERING, AttractorDetector, DetectorConfig, signature


def run(step_fn, x0, steps, config=None):
    detector = AttractorDetector(config)
    x = np.asarray(x0, np.float64)
    verdicts = []
    for t in range(steps):
        verdicts.append(detector.update(t, x))
        x = step_fn(x)
    return verdicts


def test_contraction_reaches_its_fixed_point():
    c = np.linspace(-1, 1, 50)
    verdicts = run(lambda x: 0.5 * x + c, np.zeros(50), 100)
    assert verdicts[-1].kind == FIXED_POINT
    # |x_t − x_{t−1}| halves every step from ~0.58: under 2e-3 after about 9 steps
    assert 5 <= verdicts[-1].since <= 15
    assert verdicts[5].kind == WANDERING


@pytest.mark.parametrize("period", [2, 3, 7, 19])
def test_rotation_is_a_cycle_of_its_period(period):
    angle = 2 * np.pi / period
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    verdicts = run(lambda x: rot @ x, [1.0, 0.0], 3 * period + 40)
    assert verdicts[-1].kind == CYCLE
    assert verdicts[-1].period == period
    assert verdicts[-1].since == 0


def test_a_spiral_into_a_cycle_is_found_after_its_transient():
    angle = 2 * np.pi / 5
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def step(x):
        r = np.linalg.norm(x)
        return rot @ x * (1 + 0.3 * (1 - r)) / max(r, 1e-9) * r   # radius relaxes to 1

    verdicts = run(step, [0.2, 0.0], 200)
    assert verdicts[-1].kind == CYCLE and verdicts[-1].period == 5
    assert verdicts[-1].since > 5


def test_chaos_keeps_wandering():
    rng = np.random.default_rng(0)
    verdicts = run(lambda x: 3.99 * x * (1 - x), rng.uniform(0.1, 0.9, 20), 2000)
    assert all(v.kind == WANDERING for v in verdicts)


def test_tolerance_and_patience_are_respected():
    # a slow drift of 1e-3 per step: a fixed point under tolerance 2e-3, wandering under 5e-4
    drift = lambda x: x + 1e-3  # noqa: E731
    assert run(drift, np.zeros(4), 30, DetectorConfig(tolerance=2e-3, patience=10))[-1].kind == FIXED_POINT
    assert run(drift, np.zeros(4), 30, DetectorConfig(tolerance=5e-4, patience=10))[-1].kind == WANDERING
    assert run(drift, np.zeros(4), 8, DetectorConfig(tolerance=2e-3, patience=10))[-1].kind == WANDERING


def test_signature_downsamples_the_image_and_keeps_the_top_layer():
    image = np.random.default_rng(1).uniform(size=(128, 128, 3))
    top = np.ones((16, 8, 8))
    s = signature(image, top, side=32)
    assert s.shape == (32 * 32 * 3 + 16 * 64,)
    assert s[:3] == pytest.approx(image[:4, :4].reshape(-1, 3).mean(axis=0))


def test_trajectory_finds_the_plane_of_motion():
    from app.analysis.trajectory import Trajectory
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.standard_normal((500, 2)))[0]         # a circle in a random plane of 500-D
    trajectory = Trajectory(window=100)
    angles = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    for t, a in enumerate(angles):
        trajectory.add(t, 3 * (basis @ [np.cos(a), np.sin(a)]) + 1.0)
    points, extra = trajectory.project([basis @ [3.0, 0.0] + 1.0])
    radii = np.linalg.norm(points, axis=1)
    assert radii.std() / radii.mean() < 0.15        # still a circle after projection
    assert np.linalg.norm(extra[0]) == pytest.approx(radii.mean(), rel=0.2)


def test_batch_detector_judges_each_dream_on_its_own():
    from app.analysis.attractors import BatchDetector
    rng = np.random.default_rng(4)
    angle = 2 * np.pi / 4
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    x = np.array([[3.0, 0.0], [1.0, 0.0], [0.3, 0.7]])     # contraction, rotation, chaos (logistic)
    detector = BatchDetector(3, DetectorConfig(patience=15))
    for t in range(200):
        verdicts = detector.update(t, x)
        x = np.stack([0.5 * x[0], rot @ x[1], 3.99 * x[2] * (1 - x[2])])
    assert [v.kind for v in verdicts] == [FIXED_POINT, CYCLE, WANDERING]
    assert verdicts[1].period == 4


def test_gallery_merges_repeats_and_survives_a_round_trip(tmp_path):
    import torch
    from app.analysis.gallery import Attractor, Gallery, thumbnail
    from app.errors import UserError

    def attractor(level, step):
        prediction = torch.full((32, 32, 3), level)
        states = [torch.full((1, 4, 16, 16), level), torch.full((1, 8, 8, 8), -level)]
        return Attractor(FIXED_POINT, None, step, 1, thumbnail(prediction.numpy()),
                         signature(prediction.numpy(), states[-1].numpy()), states, prediction)

    gallery = Gallery("m", 32)
    assert gallery.add(attractor(0.2, 10))[1]
    assert not gallery.add(attractor(0.2005, 50))[1]           # the same attractor, met again
    assert gallery.add(attractor(0.8, 90))[1]
    assert [e.visits for e in gallery.entries] == [2, 1]
    back = Gallery.load(gallery.save(tmp_path / "g"))
    assert (back.model, back.size, len(back.entries)) == ("m", 32, 2)
    assert torch.equal(back.entries[1].states[0], gallery.entries[1].states[0])
    assert back.entries[0].visits == 2 and back.entries[0].label() == "fixed point @ 10 ×2"
    with pytest.raises(UserError, match="cannot load the gallery"):
        Gallery.load(tmp_path / "nothing-here")
