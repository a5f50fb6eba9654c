"""Calm ↔ wild, fatigue and wander: the dream's motion through the real engine and the torch mirror, models'
own defaults from their cards, and the smooth architecture."""

import json

import numpy as np
import pytest
import torch

from app.analysis.looks import look_figures
from app.errors import UserError
from app.gl.mixer import RuleSet
from app.loop import drives as drive_ops
from app.loop.engine import Engine
from app.loop.mirror import Rule, noise_start, step
from app.loop.session import Session, full_registry
from app.models.autoencoder.model import AutoencoderConfig, ConvAutoencoder
from app.models.base import Drives
from app.models.checkpoint import load, save
from app.params import make_registry
from app.sources import open_source

SIZE = 64


def _engine(gl, checkpoint, **settings) -> Engine:
    registry = make_registry()
    engine = Engine(gl, registry, load(str(checkpoint)), open_source("noise", SIZE), SIZE, "cpu",
                    rules=RuleSet(gl, registry))
    for key, value in settings.items():
        registry.set(key, value)
    return engine


def _changes(engine: Engine, steps: int) -> np.ndarray:
    engine.generator.manual_seed(0)
    engine.reset()
    before, changes = engine.last_prediction.clone(), []
    for _ in range(steps):
        engine.step()
        now = engine.last_prediction.clone()
        changes.append(float((now - before).pow(2).mean().sqrt()))
        before = now
    return np.array(changes)


def test_rate_and_noise_rise_from_calm_to_wild_and_vanish_at_zero_or_without_dream():
    assert drive_ops.motion_rate_and_noise(0.0, 1.0) == (1.0, 0.0)
    assert drive_ops.motion_rate_and_noise(0.7, 0.0) == (1.0, 0.0)
    rates, noises = zip(*(drive_ops.motion_rate_and_noise(m, 1.0) for m in (0.1, 0.4, 0.7, 1.0)))
    assert list(rates) == sorted(rates) and list(noises) == sorted(noises)
    assert rates[-1] == pytest.approx(1.0) and rates[0] < 0.1
    half_dream_rate, _ = drive_ops.motion_rate_and_noise(0.1, 0.5)
    assert rates[0] < half_dream_rate < 1.0


def test_calm_dreams_move_less_per_step_than_the_plain_loop(gl, random_checkpoint):
    """From the same noise start: the plain loop leaps to its decoded guess, a calm one creeps toward it."""
    plain = _changes(_engine(gl, random_checkpoint, dream=1.0), 6)
    calm = _changes(_engine(gl, random_checkpoint, dream=1.0, motion=0.2), 6)
    assert plain[1:4].mean() > 1e-3
    assert 0 < calm[1:4].mean() < 0.5 * plain[1:4].mean()


@pytest.mark.parametrize("setting", [{"motion": 0.9}, {"fatigue": 0.9}, {"wander": 0.9}])
def test_motion_fatigue_and_wander_leave_a_loop_that_follows_its_source_alone(gl, random_checkpoint, setting):
    """At dream 0 the calm ↔ wild, fatigue and wander settings change nothing, to the bit."""
    def run(**settings):
        engine = _engine(gl, random_checkpoint, **settings)
        _changes(engine, 8)
        return engine.last_prediction
    assert torch.equal(run(), run(**setting))


def test_fatigue_lowers_each_drive_by_its_layers_running_average():
    tired = drive_ops.Fatigue()
    held = [torch.full((1, 2, 4, 4), 0.8), torch.full((1, 3, 2, 2), -0.4)]
    drives = Drives(up=[torch.ones_like(s) for s in held], down=[torch.zeros_like(s) for s in held],
                    prediction=torch.zeros(1, 3, 8, 8))
    out = drive_ops.fatigue(drives, held, tired, 0.5, 1.0)
    for s, up, down in zip(held, out.up, out.down):       # the first average is the state itself
        assert torch.allclose(up, 1 - 0.5 * s) and torch.allclose(down, -0.5 * s)
    moved = [torch.zeros_like(s) for s in held]
    out = drive_ops.fatigue(drives, moved, tired, 0.5, 0.5)   # half the dream: a quarter of the average
    for s, up in zip(held, out.up):
        assert torch.allclose(up, 1 - 0.25 * (1 - drive_ops.FATIGUE_RATE) * s)
    assert drive_ops.fatigue(drives, held, tired, 0.0, 1.0) is drives and tired.levels is None


def _top_only(shape=(1, 6, 16, 16)) -> Drives:
    below = torch.zeros(1, 2, 32, 32)
    return Drives(up=[below, torch.zeros(shape)], down=[below.clone(), torch.zeros(shape)],
                  prediction=torch.zeros(1, 3, 64, 64))


def test_wander_adds_a_smooth_field_of_a_few_cells_to_the_top_code_alone():
    field = drive_ops.Wander()
    generator = torch.Generator().manual_seed(0)
    out = drive_ops.wander(_top_only((4, 64, 32, 32)), field, 0.5, 1.0, generator)
    assert not out.up[0].any() and not any(d.any() for d in out.down)
    added = out.up[-1]
    assert added.std() == pytest.approx(0.5 * drive_ops.WANDER_GAIN, rel=0.25)
    neighbours = (added[..., 1:] - added[..., :-1]).std()
    assert neighbours < 0.25 * added.std()          # smooth across the cells, not per pixel
    cell = 32 // drive_ops.WANDER_CELLS            # far-apart cells differ as much as independent draws
    far = (added[..., :cell, :cell].mean((-1, -2)) - added[..., -cell:, -cell:].mean((-1, -2))).std()
    assert far > added.std()


def test_the_wander_field_keeps_its_spread_while_its_pattern_drifts_and_resets_at_zero():
    field = drive_ops.Wander()
    generator = torch.Generator().manual_seed(1)
    top = torch.zeros(8, 64, 16, 16)
    first = field.update(top, generator).clone()
    for _ in range(round(1 / drive_ops.WANDER_RATE)):
        later = field.update(top, generator)
    assert later.std() == pytest.approx(1.0, rel=0.1) and first.std() == pytest.approx(1.0, rel=0.1)
    correlation = float((first * later).mean() / (first.std() * later.std()))
    assert 0.2 < correlation < 0.55                # about e^−1 after 1/rate steps
    drives = _top_only()
    assert drive_ops.wander(drives, field, 0.0, 1.0, generator) is drives and field.field is None
    assert drive_ops.wander(drives, field, 0.8, 0.0, generator) is drives


def test_fatigue_keeps_the_smooth_models_dream_off_its_one_colour_field():
    """ae-tiny-smooth at calm ↔ wild 0.65 ends in one flat field (its card's motion alone); with the
    card's fatigue it is still a scene after the same 800 steps."""
    model = load("ae-tiny-smooth").model.eval()
    rule = Rule.default(len(model.layer_shapes(64)))

    def end_frames(fatigue):
        torch.manual_seed(0)
        prediction, states = noise_start(model, 2, 64, torch.Generator().manual_seed(0))
        tired = drive_ops.Fatigue()
        with torch.inference_mode():
            for _ in range(800):
                prediction, states = step(model, rule, prediction, states, motion=0.65, fatigue=fatigue,
                                          tired=tired)
        return [look_figures(p.permute(1, 2, 0).double().numpy()).one_colour for p in prediction]
    assert min(end_frames(0.0)) > 0.95
    assert max(end_frames(0.2)) < 0.9


@pytest.mark.parametrize("setting", [{"motion": 0.3}, {"motion": 0.3, "fatigue": 0.4},
                                     {"motion": 0.3, "fatigue": 0.4, "wander": 0.7}])
def test_the_mirror_moves_as_the_engine_does(gl, random_checkpoint, setting):
    """With the noise drawn the same, one mirror step at calm ↔ wild 0.3 (and fatigue, and wander) gives
    the engine's prediction and states (the mirror is how training and the survey dream)."""
    engine = _engine(gl, random_checkpoint, dream=1.0, **setting)
    engine.generator.manual_seed(0)
    engine.reset()
    engine.step()                                   # a first step, so states and prediction are the loop's
    states = [s.clone() for s in engine.states]
    prediction = engine.last_prediction.permute(2, 0, 1).unsqueeze(0).clone()
    state = engine.generator.get_state()
    tired = drive_ops.Fatigue()
    tired.levels = None if engine.fatigue.levels is None else [l.clone() for l in engine.fatigue.levels]
    field = drive_ops.Wander()
    field.field = None if engine.wander.field is None else engine.wander.field.clone()
    engine.step()
    engine.states  # collects the mix
    generator = torch.Generator().manual_seed(0)
    generator.set_state(state)
    draw = lambda a: torch.randn(a.shape, generator=generator)  # noqa: E731 - the engine's own draws
    rule = Rule.default(len(states))
    mirrored, mirrored_states = step(load(str(random_checkpoint)).model.eval(), rule, prediction, states,
                                     noise=draw, tired=tired, field=field, **setting)
    assert (engine.states[-1] - mirrored_states[-1]).abs().max() < 2e-3
    assert (engine.last_prediction.permute(2, 0, 1) - mirrored[0]).abs().max() < 2e-3


def test_a_models_card_sets_its_defaults_and_switching_away_restores_them(gl, random_checkpoint, tmp_path):
    torch.manual_seed(1)
    calm = save(ConvAutoencoder(AutoencoderConfig(widths=(8, 16))), tmp_path / "calm.safetensors",
                {"description": "test", "defaults": {"motion": 0.4, "general.persistence": 0.3}})
    registry = full_registry()
    session = Session(gl, registry, load(str(calm)), "noise", SIZE, torch.device("cpu"), realtime=False)
    try:
        assert registry["motion"] == pytest.approx(0.4)
        assert registry.get("general.persistence", 2) == pytest.approx(0.3)     # a rule's input, every layer
        session.switch_model(str(random_checkpoint))
        assert registry["motion"] == 0.0 and registry.get("general.persistence", 2) == 0.0
    finally:
        session.close()


def test_a_card_with_bad_defaults_is_one_line(tmp_path):
    torch.manual_seed(1)
    path = save(ConvAutoencoder(AutoencoderConfig(widths=(8,))), tmp_path / "odd.safetensors", {"defaults": [1]})
    with pytest.raises(UserError, match="defaults must be a JSON object"):
        load(str(path)).defaults


def test_smooth_resampling_and_reflect_padding_build_save_and_load(tmp_path):
    config = AutoencoderConfig(widths=(8, 16), resample="smooth", padding="reflect", blocks=1)
    torch.manual_seed(2)
    model = ConvAutoencoder(config).eval()
    path = save(model, tmp_path / "smooth.safetensors", {"description": "test"})
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["architecture"]["config"] == {**config.to_dict(), "widths": [8, 16]}
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(load(str(path)).model.eval()(image), model(image))


def test_smooth_resampling_does_not_alias_a_fine_pattern():
    """A one-pixel checkerboard through the first encoder's stride-2 convolution (unit centre weights):
    a plain stride turns it into a flat field of 0 or 3 depending on a one-pixel shift (aliasing); the
    blur before the stride gives its mean, 1.5, whatever the shift."""
    def first_layer(resample, shift):
        board = (torch.arange(32)[:, None] + torch.arange(32)[None, :] + shift) % 2
        model = ConvAutoencoder(AutoencoderConfig(widths=(4,), resample=resample, padding="reflect"))
        conv = next(m for m in model.enc[0] if isinstance(m, torch.nn.Conv2d))
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[:, :, 1, 1] = 1.0
            conv.bias.zero_()
            return model.enc[0][:1 if resample == "stride" else 2](board.float().expand(1, 3, 32, 32))
    assert first_layer("stride", 0).abs().max() == 0 and (first_layer("stride", 1) - 3).abs().max() == 0
    for shift in (0, 1):
        assert (first_layer("smooth", shift) - 1.5).abs().max() < 1e-5


@pytest.mark.parametrize("bad, match", [({"resample": "cubic"}, "resample must be one of"),
                                        ({"padding": "wrap"}, "padding must be one of"),
                                        ({"blocks": 99}, "blocks must be a whole number")])
def test_bad_architecture_options_are_one_line(bad, match):
    with pytest.raises(ValueError, match=match):
        AutoencoderConfig(widths=(8,), **bad)


def test_reflect_padding_runs_at_the_smallest_size():
    """At 2^depth pixels the top layer is one cell wide; its convolutions repeat that cell."""
    torch.manual_seed(3)
    model = ConvAutoencoder(AutoencoderConfig(widths=(4, 8), resample="smooth", padding="reflect")).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 4, 4)).shape == (1, 3, 4, 4)
