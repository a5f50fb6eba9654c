"""The headless loop, end to end: real GL passes, a real torch model, real sources."""

import cv2
import numpy as np
import pytest
import torch

from app.loop.engine import Engine
from app.gl.mixer import RuleSet
from app.models.checkpoint import load
from app.params import make_registry
from app.sources import open_source

SIZE = 64


@pytest.fixture
def still(tmp_path):
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8), (5, 5), 0)
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), image)
    return path, image[..., ::-1] / 255.0


def make_engine(gl, checkpoint, source_spec, rule_dir=None, **settings):
    registry = make_registry()
    rules = RuleSet(gl, registry, rule_dir) if rule_dir else RuleSet(gl, registry)
    engine = Engine(gl, registry, load(str(checkpoint)), open_source(str(source_spec), SIZE), SIZE, "cpu",
                    rules=rules)
    for key, value in settings.items():
        registry.set(key.replace("__", "."), value)
    return engine


def test_bottom_up_only_loop_reproduces_the_feedforward_encoding(gl, random_checkpoint, still):
    """With only bottom-up gains, layer l holds enc_l(…enc_1(x)) after l steps: the wiring of
    composite → drives → atlas → mixer → atlas is exact."""
    path, _ = still
    engine = make_engine(gl, random_checkpoint, path, general__gain_up=1.0, general__gain_down=0.0,
                         general__squash="none")
    for _ in range(engine.n_layers + 1):
        engine.step()
    x = engine.transfer.download(engine.composite.output)[..., :3].permute(2, 0, 1)[None]
    with torch.inference_mode():
        want = engine.model.encode(x)
        prediction = engine.model.dec[0](want[0])[0].permute(1, 2, 0)
    for got, w in zip(engine.states, want):
        assert torch.allclose(got, w, atol=1e-4)
    engine.step()
    assert torch.allclose(engine.last_prediction, prediction, atol=1e-4)


def test_input_follows_the_source_without_dream(gl, random_checkpoint, still):
    path, image = still
    engine = make_engine(gl, random_checkpoint, path)
    engine.step()
    x = engine.transfer.download(engine.composite.output)[..., :3].numpy()
    assert np.abs(x - image).max() < 2e-3


def test_full_dream_feeds_the_prediction_back(gl, random_checkpoint, still):
    path, image = still
    engine = make_engine(gl, random_checkpoint, path, dream=1.0)
    engine.step()
    before = engine.last_prediction.clone()
    engine.step()
    x = engine.transfer.download(engine.composite.output)[..., :3]
    assert torch.allclose(x, before, atol=1e-5)
    assert np.abs(x.numpy() - image).mean() > 0.05


def test_history_records_change_and_error(gl, random_checkpoint):
    engine = make_engine(gl, random_checkpoint, "shapes")
    for _ in range(5):
        engine.step()
    assert [h.step for h in engine.history] == [0, 1, 2, 3, 4]
    assert all(np.isfinite([h.image_change, h.top_change, h.error]).all() for h in engine.history)
    assert engine.history[0].image_change > 0
    engine.reset()
    assert not engine.history


def test_reading_a_steps_own_values_leaves_its_mix_to_the_next_step(gl, random_checkpoint):
    engine = make_engine(gl, random_checkpoint, "shapes")
    engine.step()
    record = engine.step()
    assert record.image_change > 0 and record.error > 0
    assert engine.mix_pending                    # the change and error of a step need no read-back
    assert np.isfinite(record.top_change)         # the top layer's change collects the mix
    assert not engine.mix_pending
    engine.step()                                 # and the next step starts from the collected mix


def test_nan_in_the_dynamics_resets_with_a_message(gl, random_checkpoint, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.glsl").write_text('#include "lib/mix_main.glsl"\n'
                                       "uniform float zero;\n"
                                       "vec4 rule(Cell c) { return c.state * (zero / zero); }\n")
    engine = make_engine(gl, random_checkpoint, "shapes", rule_dir=rules)
    assert engine.registry["rule"] == "broken"
    engine.step()
    engine.step()   # the mix of a step is read back by the next one (or by anything reading the states)
    assert "NaN" in engine.message and "reset" in engine.message
    assert all(torch.isfinite(s).all() for s in engine.states)
    engine.step()   # and it carries on


def test_a_rule_that_fails_to_compile_is_reported_not_fatal(gl, tmp_path):
    from app.resources import SHADER_DIR
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "general.glsl").write_text((SHADER_DIR / "rules" / "general.glsl").read_text())
    (rules / "typo.glsl").write_text('#include "lib/mix_main.glsl"\nvec4 rule(Cell c) { return c.stat; }\n')
    registry = make_registry()
    ruleset = RuleSet(gl, registry, rules)
    assert "typo" in ruleset.errors and "typo.glsl" in ruleset.errors["typo"]
    assert registry.param("rule").choices == ("general",)


def test_latent_noise_makes_two_runs_from_the_same_start_diverge(gl, shipped_checkpoint, still):
    path, _ = still

    def run(noise, seed):
        engine = make_engine(gl, shipped_checkpoint, path, dream=1.0, latent_noise=noise)
        engine.generator.manual_seed(0)
        engine.reset()                                # the same start for both runs
        engine.generator.manual_seed(seed)            # then different noise draws
        for _ in range(10):
            engine.step()
        return engine.last_prediction
    assert torch.equal(run(0.0, 1), run(0.0, 2))
    assert (run(0.3, 1) - run(0.3, 2)).abs().mean() > 1e-3


def test_full_inertia_ignores_a_changed_source(gl, shipped_checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    sources = []
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
        sources.append(tmp_path / name)

    def run(gamma, source):
        engine = make_engine(gl, shipped_checkpoint, source, inertia=gamma)
        for _ in range(8):
            engine.step()
        return engine.last_prediction

    at_one = (run(1.0, sources[0]) - run(1.0, sources[1])).abs().mean() / run(1.0, sources[0]).abs().mean()
    at_zero = (run(0.0, sources[0]) - run(0.0, sources[1])).abs().mean() / run(0.0, sources[0]).abs().mean()
    assert at_one < 0.01
    assert at_zero > 0.01


def test_steps_per_frame(gl, random_checkpoint):
    engine = make_engine(gl, random_checkpoint, "shapes", steps_per_frame=3)
    engine.advance()
    assert engine.step_index == 3
