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


# ----------------------------------------------------------------------------- relative tolerance
RELATIVE = DetectorConfig(tolerance=0.01, patience=10, relative=True)
PIXELS = 32 * 32 * 3            # the prediction's part of a signature


def settling(scale, pred_size=PIXELS, top_size=2048, rate=0.8, seed=0):
    """A dream settling on a fixed point: (prediction part, top part) = x* + rate^t·v, both at ``scale``."""
    rng = np.random.default_rng(seed)
    target = rng.uniform(-1, 1, pred_size + top_size) * scale
    kick = rng.uniform(-1, 1, pred_size + top_size) * scale
    return [target + rate ** t * kick for t in range(60)]


def judge(frames, config, parts=None):
    detector = AttractorDetector(config)
    for t, frame in enumerate(frames):
        verdict = detector.update(t, frame, parts)
    return verdict


def test_a_relative_tolerance_gives_the_same_verdict_at_any_scale():
    """The absolute tolerance finds the same dream settled at one scale and wandering at another."""
    verdicts = {scale: judge(settling(scale), RELATIVE) for scale in (0.05, 0.3, 10.0)}
    assert all(v.kind == FIXED_POINT for v in verdicts.values())
    assert len({v.since for v in verdicts.values()}) == 1
    absolute = {scale: judge(settling(scale), DetectorConfig(tolerance=2e-3, patience=10)) for scale in (0.05, 10.0)}
    assert absolute[10.0].kind == WANDERING or absolute[0.05].since < absolute[10.0].since - 5


@pytest.mark.parametrize("top_size", [128 * 4 * 4, 128 * 8 * 8, 128 * 32 * 32])   # ae-tiny-smooth at 64², 128², 512²
def test_the_prediction_and_the_top_layer_count_alike_whatever_their_sizes(top_size):
    """An image that keeps moving is no fixed point however many entries a still top layer has; an
    image that stopped with a top layer still settling is one as soon as both changes are small."""
    rng = np.random.default_rng(1)
    top = rng.uniform(-0.2, 0.2, top_size)
    moving = [np.concatenate([rng.uniform(0, 1, PIXELS) * 0.02 + 0.5 + 0.2 * np.sin(np.arange(PIXELS) + t), top])
              for t in range(40)]
    parts = (PIXELS, top_size)
    assert judge(moving, RELATIVE, parts).kind == WANDERING
    image = rng.uniform(0, 1, PIXELS)
    drifting = [np.concatenate([image, top * (1 + 0.002 * t)]) for t in range(40)]   # 0.2 % of its spread a step
    verdict = judge(drifting, RELATIVE, parts)
    assert verdict.kind == FIXED_POINT and verdict.since == 0


def test_a_flat_dream_is_measured_against_a_minimum_spread():
    from app.analysis.attractors import MIN_SPREAD
    flat = [np.full(100, 0.5) + 1e-6 * t for t in range(30)]        # no spread, barely moving: settled
    assert judge(flat, RELATIVE).kind == FIXED_POINT
    fading = [np.full(100, 0.5) + 0.2 * MIN_SPREAD * t for t in range(30)]   # flat, but fading fast
    assert judge(fading, RELATIVE).kind == WANDERING


def test_another_signature_length_starts_the_history_anew():
    detector = AttractorDetector(RELATIVE)
    for t in range(15):
        detector.update(t, np.ones(8))
    assert detector.verdict.kind == FIXED_POINT
    assert detector.update(15, np.ones(12)).kind == WANDERING       # another model or size: judged afresh


# ----------------------------------------------------------------------------- the live verdict
HELD_PHOTO = "flower.jpg"       # not china.jpg: held, its sky grows drifting stripes in ae-tiny-smooth


def live_session(gl, size, source="noise"):
    from app.gl.mixer import RuleSet
    from app.loop.session import Session, full_registry
    from app.models.checkpoint import load
    from app.ui.explore import Explorer
    registry = full_registry()
    session = Session(gl, registry, load("ae-tiny-smooth"), source, size, "cpu", realtime=False,
                      rules=RuleSet(gl, registry))
    return session, Explorer.for_engine(session.engine)


@pytest.mark.parametrize("size", [64, 128, 512])
def test_a_dream_that_stopped_moving_reads_fixed_point_at_every_size(gl, shipped_checkpoint, size):
    """The window's verdict (``Explorer``, the real engine and ae-tiny-smooth): a dream whose every layer keeps
    its state (the general rule with only its own gain, 1) has stopped moving; once its per-step
    change has stayed under the tolerance for the patience window, the verdict says so."""
    session, explorer = live_session(gl, size)
    r = session.registry
    for key, value in (("gain_self", 1.0), ("gain_up", 0.0), ("gain_down", 0.0), ("persistence", 0.0),
                       ("noise", 0.0), ("squash", "none")):
        r.set(f"general.{key}", value)
    r.set("dream", 1.0)
    r.set("explore.patience", 6)
    engine = session.engine
    verdicts = []
    for _ in range(10):
        engine.advance()
        verdicts.append(explorer.update(engine))
    changes = list(explorer.detector.changes)
    tolerance = r["explore.tolerance"]
    below = next(i for i in range(len(changes)) if all(c < tolerance for c in changes[i:]))
    assert len(changes) - below >= 6, f"the change did not stay under {tolerance}: {changes}"
    assert verdicts[-1].kind == FIXED_POINT, (size, verdicts[-1], changes)
    assert verdicts[-1].describe().startswith("fixed point")
    assert all(v.kind == WANDERING for v in verdicts[:6]), "judged before the patience window"
    session.close()


@pytest.mark.parametrize("size", [64, 128, 512])
def test_a_held_photo_settles_to_a_fixed_point_at_every_size(gl, shipped_checkpoint, size):
    """A visibly stuck picture, the real way: a photo held (freeze) without dreaming. Its image stops
    within a few steps; its top layer settles on, by a shrinking fraction of its own spread. The
    verdict turns to "fixed point" exactly when the change has stayed under the tolerance for the
    patience window, at every size."""
    from app.resources import ASSET_DIR
    photo = ASSET_DIR / "photos" / HELD_PHOTO
    session, explorer = live_session(gl, size, str(photo))
    r = session.registry
    r.set("freeze", True)
    r.set("dream", 0.0)
    tolerance, patience = r["explore.tolerance"], r["explore.patience"]
    verdicts = []
    for _ in range(100):
        session.engine.advance()
        verdicts.append(explorer.update(session.engine))
        if verdicts[-1].kind == FIXED_POINT:
            break
    changes = list(explorer.detector.changes)          # changes[i]: from update i to update i + 1
    assert verdicts[-1].kind == FIXED_POINT, (size, changes[-5:])
    assert all(c < tolerance for c in changes[-patience:])
    assert changes[-patience - 1] >= tolerance          # and not a step later than that
    session.close()


def test_dreaming_from_a_frame_detects_after_the_hold(gl, shipped_checkpoint):
    """The held photo settles (a fixed point, were it watched) but is not counted: detection starts
    when the dream does."""
    from app.resources import ASSET_DIR
    photo = ASSET_DIR / "photos" / HELD_PHOTO
    session, explorer = live_session(gl, 64, str(photo))
    r = session.registry
    r.set("explore.hold", 40)
    r.set("explore.patience", 5)
    r.set("explore.tolerance", 0.2)           # generous: the held photo would read "fixed point" early
    engine = session.engine
    for _ in range(3):
        engine.advance()
        explorer.update(engine)
    explorer.dream_from_static_frame(engine)
    held_from = engine.step_index
    for _ in range(40):
        engine.advance()
        verdict = explorer.update(engine)
        if explorer.hold_remaining:
            assert verdict.kind == WANDERING, f"the held photo was judged at step {engine.step_index}"
    assert explorer.gallery.entries == [], "the held photo went into the gallery"
    assert r["dream"] == 1.0 and explorer.hold_remaining == 0
    assert len(explorer.detector.changes) == 0                 # the dream's detection starts now
    engine.advance()
    explorer.update(engine)
    engine.advance()
    explorer.update(engine)
    assert len(explorer.detector.changes) == 1 and engine.step_index > held_from + 40
    session.close()
