"""PVM inside the app's loop: the adapter, the GLSL-mixed deep dream, modes and sleep."""

import numpy as np
import pytest
import torch

from app.gl.output import OffscreenTarget
from app.gl.views import Views, natural_size
from app.loop.session import Session, full_registry
from app.models.checkpoint import load, save
from app.models.pvm.model import PVM
from app.models.pvm.spec import PVMSpec, load_spec
from app.models.pvm.stack import ErrorCurve

CONTEXT_FROM_THE_START = dict(layer_shapes=[4, 2, 1], input_block_size=4, hidden_block_size=3,
                              initial_learning_rate=0.1, final_learning_rate=0.1, delay_each_layer_learning=0,
                              enable_lateral_at=0, enable_feedback_at=0)


@pytest.fixture(scope="module")
def pvm_checkpoint(tmp_path_factory):
    model = PVM(load_spec("pvm-small"), seed=1)
    return save(model, tmp_path_factory.mktemp("pvm") / "pvm-test.safetensors", {"description": "untrained"})


def make_engine(gl, checkpoint, size=128):
    """A PVM's session asked for any size: the model fixes its own."""
    session = Session(gl, full_registry(), load(str(checkpoint)), "shapes", size, torch.device("cpu"), realtime=False)
    return session.engine


def test_pvm_runs_in_the_loop_at_its_frame_size(gl, pvm_checkpoint):
    engine = make_engine(gl, pvm_checkpoint)
    assert engine.size == 60 and engine.capabilities.learns
    assert engine.rules.passes_through(engine.n_layers)      # normal mode: plain PVM
    for _ in range(5):
        engine.step()
    assert engine.model.pvm.steps == 5
    assert [r[0] for r in engine.frame().rows] == ["signal", "prediction", "error"]
    assert all(torch.isfinite(s).all() for s in engine.states)


def test_deep_dream_feeds_every_layer_its_own_prediction(gl, pvm_checkpoint):
    engine = make_engine(gl, pvm_checkpoint)
    engine.step()
    engine.registry.set("mode", "deep dream")     # the session writes the mode's values at once
    assert engine.registry["dream"] == 1.0
    assert not engine.rules.passes_through(engine.n_layers)
    engine.step()
    engine.step()
    # the mixer's output (what each layer reads next) is the layer's own prediction, not the signal
    last = engine.drives
    for state, down, up in zip(engine.states, last.down, last.up):
        assert torch.allclose(state, down.clamp(-1, 1), atol=1e-5)
        assert not torch.allclose(state, up, atol=1e-3)


def _predictions(engine, steps: int) -> list[np.ndarray]:
    out = []
    for _ in range(steps):
        engine.step()
        out.append(engine.last_prediction.numpy().copy())
    return out


@pytest.mark.parametrize("lesion", ["pvm.feedback", "pvm.lateral"])
def test_a_context_lesion_changes_what_the_model_predicts(gl, tmp_path, lesion):
    """Two loops from the same weights and frames: cutting a kind of context changes the predictions
    from the step it is cut, and restoring it leaves the weights it was lesioned with."""
    checkpoint = save(PVM(PVMSpec(**CONTEXT_FROM_THE_START), seed=3), tmp_path / "ctx.safetensors", {})
    intact, lesioned = make_engine(gl, checkpoint), make_engine(gl, checkpoint)
    for engine in (intact, lesioned):
        engine.registry.set("pvm.learning", False)
    before = _predictions(intact, 3), _predictions(lesioned, 3)
    np.testing.assert_array_equal(*before)               # same weights, same frames: the same dream
    lesioned.registry.set(lesion, False)
    after = _predictions(intact, 4), _predictions(lesioned, 4)
    assert np.abs(after[0][-1] - after[1][-1]).max() > 1e-4


def test_learning_off_freezes_the_weights_and_on_changes_them(gl, tmp_path):
    checkpoint = save(PVM(PVMSpec(**CONTEXT_FROM_THE_START), seed=3), tmp_path / "learn.safetensors", {})
    engine = make_engine(gl, checkpoint)
    weights = lambda: torch.cat([w.flatten() for w in engine.model.pvm.input_weights()]).clone()  # noqa: E731
    engine.registry.set("pvm.learning", False)
    start = weights()
    _predictions(engine, 5)
    assert torch.equal(weights(), start)
    engine.registry.set("pvm.learning", True)
    _predictions(engine, 5)
    assert not torch.equal(weights(), start)


def test_sleep_unlearns_while_the_dream_is_settled(gl, pvm_checkpoint):
    engine = make_engine(gl, pvm_checkpoint)
    r = engine.registry
    for key, value in (("pvm.sleep", True), ("pvm.sleep_threshold", 0.01), ("pvm.sleep_patience", 3),
                       ("pvm.sleep_rate", 0.02)):
        r.set(key, value)
    stack = engine.model
    for change in (0.5, 0.001, 0.001, 0.001):
        stack.apply_controls(r, change)
    assert stack.sleeping and stack.pvm.learning_rate == pytest.approx(-0.02)
    stack.apply_controls(r, 0.2)                          # the dream moves again: wake up
    assert not stack.sleeping and stack.pvm.learning_rate is None
    assert stack.sleep.episodes == 1
    assert "sleeps 1" in stack.status()


def test_grid_shows_the_two_step_prediction_beside_the_prediction(gl, tmp_path):
    spec = PVMSpec(**CONTEXT_FROM_THE_START, predict_two_steps=True)
    engine = make_engine(gl, save(PVM(spec, seed=0), tmp_path / "two-step.safetensors", {"description": "untrained"}))
    for _ in range(3):
        engine.step()
    frame = engine.frame()
    assert frame.two_step
    width, height = natural_size("grid", engine.size, engine.n_layers, two_step=True)
    target = OffscreenTarget(gl, width, height)
    target.clear()
    drawn = Views(gl).render(frame, "grid", target.fbo)
    pixels = target.read().astype(np.float32)
    target.release()
    at = {c.label: c for c in drawn}
    t2, prediction = at["prediction t+2"], at["prediction"]
    assert (t2.x, t2.y) == (prediction.x + prediction.w, prediction.y)
    assert len(drawn) == 3 * (engine.n_layers + 1) + 1                 # one cell in the t+2 column
    panel = pixels[t2.y:t2.y + t2.h, t2.x:t2.x + t2.w]
    expected = engine.model.later_prediction().cpu().numpy() * 255
    assert panel.std() > 5 and np.abs(panel - expected).max() < 2
    below = pixels[t2.y + t2.h:, t2.x:t2.x + t2.w]
    assert below.max() == 0                                            # background under it
    shown = pixels[prediction.y:prediction.y + prediction.h, prediction.x:prediction.x + prediction.w]
    assert np.abs(panel - shown).mean() > 1


def test_the_learning_curve_averages_the_frame_error_per_window():
    curve = ErrorCurve(every=4)
    for step in range(1, 11):
        curve.add(step, torch.tensor(float(step)))
    steps, errors = curve.arrays()
    assert steps.tolist() == [4, 8] and errors.tolist() == [2.5, 6.5]
    every_step = ErrorCurve(every=1)
    for step, error in enumerate((1.0, 3.0, 5.0, 7.0)):
        every_step.add(step, torch.tensor(error))
    assert every_step.trend(2).tolist() == [1.0, 2.0, 4.0, 6.0]
